//! `switchboard transform`: run a Transformation from a manifest file on one input.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use switchboard::api::{InputFormat, OutputFormat, TransformationSpec};
use switchboard::transform::{BuildError, Meta, Program, TransformError};
use switchboard::yaml;

/// Arguments of `transform`.
#[derive(clap::Args, Debug)]
pub struct TransformArgs {
    /// YAML file holding the Transformation (other documents are ignored).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Which Transformation, when the file holds several.
    #[arg(long)]
    pub name: Option<String>,
    /// The payload: a file, or `-` for standard input.
    #[arg(long, default_value = "-")]
    pub input: String,
    /// Read the payload in this format instead of the Transformation's.
    #[arg(long, value_enum)]
    pub input_format: Option<Format>,
    /// `$meta` as JSON, e.g. '{"eventType": "push", "headers": {"x-github-event": "push"}}'.
    #[arg(long)]
    pub meta: Option<String>,
}

/// Input formats on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// JSON.
    Json,
    /// application/x-www-form-urlencoded.
    Form,
    /// Plain text.
    Text,
}

/// Why `transform` failed.
#[derive(Debug, thiserror::Error)]
pub enum TransformCommandError {
    /// A file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file ("-" for standard input).
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest is not YAML.
    #[error("{path}: invalid YAML")]
    Yaml {
        /// The manifest file.
        path: String,
        /// The syntax error.
        #[source]
        source: yaml::SyntaxError,
    },
    /// No Transformation (with that name) in the file.
    #[error("{path}: no Transformation{}", .name.as_ref().map(|n| format!(" named {n:?}")).unwrap_or_default())]
    NotFound {
        /// The manifest file.
        path: String,
        /// The name asked for.
        name: Option<String>,
    },
    /// Several Transformations and no --name.
    #[error("{path}: several Transformations ({}); choose one with --name", .names.join(", "))]
    Ambiguous {
        /// The manifest file.
        path: String,
        /// Their names.
        names: Vec<String>,
    },
    /// The spec does not match the Transformation schema.
    #[error("{path}: Transformation {name:?}: invalid spec")]
    Spec {
        /// The manifest file.
        path: String,
        /// The Transformation.
        name: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// --meta is not valid.
    #[error("--meta")]
    Meta(#[source] serde_json::Error),
    /// The Transformation does not build.
    #[error("Transformation {name:?}")]
    Build {
        /// The Transformation.
        name: String,
        /// The build error.
        #[source]
        source: BuildError,
    },
    /// The transformation failed on this input.
    #[error(transparent)]
    Run(TransformError),
    /// Writing the output failed.
    #[error("writing the output")]
    Write(#[source] std::io::Error),
}

/// Runs the Transformation on the input and prints its output.
pub fn run(args: TransformArgs) -> Result<ExitCode, TransformCommandError> {
    let path = args.file.display().to_string();
    let read_err = |path: &str| {
        let path = path.to_owned();
        move |source| TransformCommandError::Read { path, source }
    };
    let text = std::fs::read_to_string(&args.file).map_err(read_err(&path))?;
    let (name, mut spec) = find(&path, &text, args.name.as_deref())?;
    if let Some(format) = args.input_format {
        spec.input_format = match format {
            Format::Json => InputFormat::Json,
            Format::Form => InputFormat::Form,
            Format::Text => InputFormat::Text,
        };
    }
    let meta = match &args.meta {
        Some(json) => serde_json::from_str(json)
            .and_then(|v| Meta::from_json(&v))
            .map_err(TransformCommandError::Meta)?,
        None => Meta::default(),
    };
    let program =
        Program::compile(&spec).map_err(|source| TransformCommandError::Build { name, source })?;
    let raw = if args.input == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(read_err("-"))?;
        buf
    } else {
        std::fs::read(&args.input).map_err(read_err(&args.input))?
    };
    let output = program
        .run(&raw, &meta)
        .map_err(TransformCommandError::Run)?;
    let text = match spec.output_format {
        // Indented from the written text, so numbers show as the program wrote them.
        OutputFormat::Json => pretty(&output.body) + "\n",
        OutputFormat::Form => String::from_utf8_lossy(&output.body).into_owned() + "\n",
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(TransformCommandError::Write)?;
    Ok(ExitCode::SUCCESS)
}

/// JSON text indented as `serde_json::to_string_pretty` indents it, every token (numbers
/// above all) kept as written.
fn pretty(json: &[u8]) -> String {
    let mut out = Vec::with_capacity(json.len() * 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', depth * 2));
    };
    let mut bytes = json.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if in_string {
            out.push(b);
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                out.push(b);
                while bytes.next_if(|c| c.is_ascii_whitespace()).is_some() {}
                if let Some(close) = bytes.next_if(|&c| c == b'}' || c == b']') {
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            _ => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The Transformation named `name` (or the only one) among the file's documents.
fn find(
    path: &str,
    text: &str,
    name: Option<&str>,
) -> Result<(String, TransformationSpec), TransformCommandError> {
    let docs = yaml::parse_documents(text).map_err(|source| TransformCommandError::Yaml {
        path: path.to_owned(),
        source,
    })?;
    let mut found: Vec<(String, &serde_json::Value)> = docs
        .iter()
        .filter(|d| d.value["kind"] == "Transformation")
        .map(|d| {
            let n = d.value["metadata"]["name"].as_str().unwrap_or_default();
            (n.to_owned(), &d.value)
        })
        .filter(|(n, _)| name.is_none_or(|wanted| wanted == n))
        .collect();
    let (name, doc) = match found.len() {
        0 => {
            return Err(TransformCommandError::NotFound {
                path: path.to_owned(),
                name: name.map(str::to_owned),
            });
        }
        1 => found.remove(0),
        _ => {
            return Err(TransformCommandError::Ambiguous {
                path: path.to_owned(),
                names: found.into_iter().map(|(n, _)| n).collect(),
            });
        }
    };
    let spec = serde_json::from_value(doc["spec"].clone()).map_err(|source| {
        TransformCommandError::Spec {
            path: path.to_owned(),
            name: name.clone(),
            source,
        }
    })?;
    Ok((name, spec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_indents_as_serde_json_and_keeps_numbers() {
        let text = r#"{"a":[1,{"b":"x, y: [z]","c":{}},[]],"d":{"e":"\"{"}}"#;
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            pretty(text.as_bytes()),
            serde_json::to_string_pretty(&value).unwrap()
        );
        assert_eq!(
            pretty(br#"{"n":18446744073709551617,"m":[-0,1e400]}"#),
            "{\n  \"n\": 18446744073709551617,\n  \"m\": [\n    -0,\n    1e400\n  ]\n}"
        );
        assert_eq!(pretty(b"1.50"), "1.50");
    }
}
