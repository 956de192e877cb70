//! `civpass serve`: runs one node of the platform as its configuration says, with its
//! background work, until SIGINT or SIGTERM; the wiring itself is `civpass_driver`'s.

use anyhow::Context;
use civpass_driver::{Config, Node, Overrides};

use crate::config::ServeArgs;

pub(crate) async fn run(args: ServeArgs, file: &Config) -> anyhow::Result<()> {
    let config = args.over(file);
    let (listener, issuer) = civpass_driver::bind(&config).await?;
    let address = listener.local_addr()?;
    let node = Node::build(&config, &issuer, Overrides::default()).await?;
    node.start_background(true);
    let metrics_at = match &config.server.metrics_listen {
        Some(listen) => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listening for /metrics on {listen}"))?;
            let at = listener.local_addr()?;
            civpass_driver::serve_metrics(node.state.clone(), listener);
            format!("http://{at}/metrics")
        }
        None => format!("{issuer}/metrics"),
    };
    let registry = match &config.storage.registry_url {
        // Hosts only: a URL could carry credentials.
        Some(url) => format!(
            "{} (identity evidence from {})",
            host_of(url),
            config.storage.evidence_url.as_deref().map_or("?".to_owned(), host_of)
        ),
        None => "the sandbox (synthetic people; `civpass registry list`)".to_owned(),
    };
    // The first line's form is read by scripts and tests: keep it. One write, and its failure
    // ignored: a reader that took the first line and closed the pipe must not stop the server.
    // The second line names the issuer's host because passkeys work only there.
    let _ = std::io::Write::write_all(
        &mut std::io::stdout(),
        format!(
            "civpass listening on http://{address} (issuer {issuer})\n\
             Open {issuer}/ in a browser; the citizen app is at {issuer}/app/\n\
             Data: {}; registry: {registry}\n",
            config.storage.describe()
        )
        .as_bytes(),
    );
    tracing::info!(
        %address,
        %issuer,
        version = env!("CARGO_PKG_VERSION"),
        store = %config.storage.describe(),
        metrics = %metrics_at,
        "civpass is serving"
    );
    node.serve(listener, shutdown_signal()).await?;
    tracing::info!("civpass has stopped");
    Ok(())
}

fn host_of(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
