//! `switchboard remove-finalizers`: the uninstall step that lets WebhookSubscriptions (and
//! their namespaces) be deleted once the controller is gone (docs/install.md).

use std::process::ExitCode;

use switchboard::controller;

use super::CliError;

/// Arguments of `remove-finalizers`.
#[derive(clap::Args, Debug)]
pub struct RemoveFinalizersArgs {
    /// Namespace to clean (repeat or comma-separate for several); default: every namespace.
    #[arg(long = "namespace", short = 'n', value_delimiter = ',')]
    pub namespaces: Vec<String>,
}

/// Removes the finalizer and prints each subscription it was removed from.
pub fn run(args: RemoveFinalizersArgs) -> Result<ExitCode, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let removed = runtime.block_on(async {
        let client = controller::client().await?;
        controller::uninstall::remove_finalizers(&client, &args.namespaces)
            .await
            .map_err(CliError::from)
    })?;
    for name in &removed {
        println!("webhooksubscription {name}: finalizer removed");
    }
    println!("{} finalizer(s) removed", removed.len());
    Ok(ExitCode::SUCCESS)
}
