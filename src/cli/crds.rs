//! `switchboard crds`: print (or write) the CRDs.

use std::path::PathBuf;
use std::process::ExitCode;

use switchboard::api::crds;
use switchboard::yaml;

use super::CliError;

/// Arguments of `crds`.
#[derive(clap::Args, Debug)]
pub struct CrdsArgs {
    /// Write one file per CRD into this directory instead of printing them.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

/// Prints every CRD, or writes them to `--out-dir`.
pub fn run(args: CrdsArgs) -> Result<ExitCode, CliError> {
    let all = crds::all_json();
    match args.out_dir {
        None => print!("{}", yaml::to_yaml_stream(&all)),
        Some(dir) => {
            let write_err = |path: &std::path::Path, source| CliError::Write {
                path: path.display().to_string(),
                source,
            };
            std::fs::create_dir_all(&dir).map_err(|e| write_err(&dir, e))?;
            for crd in &all {
                let path = dir.join(format!(
                    "{}.yaml",
                    crd["metadata"]["name"].as_str().unwrap_or("unnamed")
                ));
                std::fs::write(&path, yaml::to_yaml(crd)).map_err(|e| write_err(&path, e))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
