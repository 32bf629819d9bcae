//! A minimal console for end-to-end tests: one websocket session on the
//! agent's Unix socket (`hello`, then a snapshot or a command), as the real
//! console speaks it. The caller is the test's own login name, so the test
//! grants it a role first (`mottak-agent access grant`, [`grant_operator`]).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use mottak_protocol::console::{
    ClientMessage, Command as ConsoleCommand, ConsoleState, Outcome, PROTOCOL_VERSION,
    ServerMessage,
};
use tokio::net::UnixStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// How long one answer from the agent may take.
const ANSWER: Duration = Duration::from_secs(30);

/// Makes the user running the test an operator of every mottakersystem.
pub fn grant_operator(config: &Path) -> Result<()> {
    let user = current_user()?;
    let out = Command::new(crate::binary("mottak-agent")?)
        .arg("access")
        .arg("--config")
        .arg(config)
        .args(["grant", "--user", &user, "--role", "operator", "--all"])
        .output()?;
    if !out.status.success() {
        bail!(
            "mottak-agent access grant failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The login name the agent sees on the socket (`id -un`).
fn current_user() -> Result<String> {
    let out = Command::new("id").arg("-un").output()?;
    let name = String::from_utf8(out.stdout)?.trim().to_owned();
    if name.is_empty() {
        bail!("`id -un` printed no login name");
    }
    Ok(name)
}

/// One console session.
pub struct ConsoleSession {
    ws: WebSocketStream<UnixStream>,
}

impl std::fmt::Debug for ConsoleSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSession").finish_non_exhaustive()
    }
}

impl ConsoleSession {
    /// Connects and says hello.
    pub async fn connect(socket: &Path) -> Result<ConsoleSession> {
        let stream = UnixStream::connect(socket)
            .await
            .with_context(|| format!("connect to {}", socket.display()))?;
        let (ws, _) = tokio_tungstenite::client_async("ws://localhost/console", stream).await?;
        let mut s = ConsoleSession { ws };
        s.send(&ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            client: Some("mottak-tests".into()),
        })
        .await?;
        match s.recv().await? {
            ServerMessage::Welcome { .. } => Ok(s),
            other => bail!("the agent answered hello with {other:?}"),
        }
    }

    async fn send(&mut self, m: &ClientMessage) -> Result<()> {
        self.ws
            .send(Message::text(serde_json::to_string(m)?))
            .await?;
        Ok(())
    }

    async fn recv(&mut self) -> Result<ServerMessage> {
        loop {
            let next = tokio::time::timeout(ANSWER, self.ws.next())
                .await
                .map_err(|_| anyhow!("nothing from the agent in {ANSWER:?}"))?;
            match next {
                Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str())?),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(other)) => bail!("the agent sent {other:?}"),
                Some(Err(e)) => bail!("the console connection failed: {e}"),
                None => bail!("the agent closed the console connection"),
            }
        }
    }

    /// The whole state, as a fresh subscriber sees it.
    pub async fn snapshot(&mut self) -> Result<ConsoleState> {
        self.send(&ClientMessage::Subscribe).await?;
        loop {
            if let ServerMessage::Snapshot { state, .. } = self.recv().await? {
                return Ok(state);
            }
        }
    }

    /// Sends a command and returns its outcome.
    pub async fn command(&mut self, id: &str, command: ConsoleCommand) -> Result<Outcome> {
        self.send(&ClientMessage::Command {
            id: id.to_owned(),
            command,
        })
        .await?;
        loop {
            if let ServerMessage::Result { id: got, outcome } = self.recv().await?
                && got == id
            {
                return Ok(outcome);
            }
        }
    }
}
