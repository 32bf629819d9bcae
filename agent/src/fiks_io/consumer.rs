//! The AMQP link to Fiks IO: log in as the integration with
//! `"<IntegrasjonPassord> <Maskinporten token>"` (a fresh token at every
//! connect: the broker checks it only then), prefetch 10, consume
//! `fiksio.konto.<konto_id>` with manual ack (never declaring it: Fiks does),
//! and reconnect with backoff when the link is lost. Each message is handed
//! to [`Context::handle`] in a task of its own and acked only when the journal
//! has settled it; one the journal has not settled stays unacked and is
//! tried again, and a lost link redelivers it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::uri::{AMQPUri, AMQPUserInfo};
use lapin::{Channel, Connection, ConnectionProperties, Consumer};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::deliver::{Body, Context, Outcome};
use super::read_headers;
use crate::backoff::Backoff;
use crate::maskinporten::Maskinporten;
use crate::secret::Secret;

/// Messages the broker sends before the first is acked.
pub const PREFETCH: u16 = 10;
/// The longest wait between two connects.
const RECONNECT_CAP: Duration = Duration::from_secs(60);
/// The longest wait between two tries of a message that is not settled.
const RETRY_CAP: Duration = Duration::from_secs(60);
/// How often the loop beats while the link is quiet.
const BEAT: Duration = Duration::from_secs(1);
/// How soon a copy of a message another task is delivering looks again.
const BUSY_WAIT: Duration = Duration::from_millis(100);
/// The longest a connect (TCP, TLS, login, consume) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and as whom to log in.
pub struct Link {
    pub amqp_url: url::Url,
    pub integrasjon_id: String,
    pub passord: Secret,
    pub konto_id: String,
    pub maskinporten: Arc<Maskinporten>,
}

/// The queue of a konto.
pub fn konto_queue(konto_id: &str) -> String {
    format!("fiksio.konto.{konto_id}")
}

/// A consuming link.
pub struct Consuming {
    connection: Connection,
    _channel: Channel,
    consumer: Consumer,
}

impl Link {
    /// Logs in and starts consuming. A refused login is tried once more
    /// with a token fetched anew (the cached one may have been revoked).
    pub async fn connect(&self) -> anyhow::Result<Consuming> {
        let attempt = async {
            match self.connect_once(false).await {
                Err(e) if is_refused(&e) => self.connect_once(true).await,
                other => other,
            }
        };
        tokio::time::timeout(CONNECT_TIMEOUT, attempt)
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "no answer from Fiks IO at {} within {CONNECT_TIMEOUT:?}",
                    self.amqp_url
                )
            })?
    }

    async fn connect_once(&self, fresh: bool) -> anyhow::Result<Consuming> {
        let mut token = self.maskinporten.token().await?;
        if fresh {
            self.maskinporten.invalidate(&token).await;
            token = self.maskinporten.token().await?;
        }
        let mut uri: AMQPUri = self.amqp_url.as_str().parse().map_err(|e: String| {
            anyhow::anyhow!("amqp_url {} is not an AMQP URI: {e}", self.amqp_url)
        })?;
        uri.authority.userinfo = AMQPUserInfo {
            username: self.integrasjon_id.clone(),
            password: format!("{} {}", self.passord.expose(), token.expose()),
        };
        let properties = ConnectionProperties::default()
            .with_connection_name(concat!("mottak-agent/", env!("CARGO_PKG_VERSION")).into());
        let connection = Connection::connect_uri(uri, properties)
            .await
            .map_err(|e| login_error(&e, self))?;
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(PREFETCH, BasicQosOptions::default())
            .await?;
        let queue = konto_queue(&self.konto_id);
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "mottak-agent".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "logged in to Fiks IO, but cannot consume {queue} ({e}): check konto_id, and that the integration has access to the konto in Fiks forvaltning"
                )
            })?;
        Ok(Consuming {
            connection,
            _channel: channel,
            consumer,
        })
    }
}

fn is_refused(e: &anyhow::Error) -> bool {
    e.to_string().contains("ACCESS_REFUSED")
}

/// A failed connect in words an operator can act on.
fn login_error(e: &lapin::Error, link: &Link) -> anyhow::Error {
    let text = e.to_string();
    if text.contains("ACCESS_REFUSED") || text.contains("403") {
        anyhow::anyhow!(
            "Fiks IO refused the login of integration {} at {} ({text}): check integrasjon_id and integrasjon_passord, and that Maskinporten gives scope ks:fiks",
            link.integrasjon_id,
            link.amqp_url
        )
    } else {
        anyhow::anyhow!("cannot connect to Fiks IO at {} ({text})", link.amqp_url)
    }
}

/// Consumes until `shutdown`: on a lost link, connects again with backoff.
/// `first` is the link setup opened.
pub async fn run(ctx: Arc<Context>, link: Link, first: Consuming, shutdown: CancellationToken) {
    let mut next = Some(first);
    let mut failures = 0u32;
    let mut tasks = JoinSet::new();
    loop {
        let consuming = match next.take() {
            Some(c) => c,
            None => match link.connect().await {
                Ok(c) => c,
                Err(e) => {
                    let line = crate::commands::one_line(&e);
                    error!(mottakersystem = %ctx.system, error = %line, "cannot connect to Fiks IO; trying again");
                    let now = ctx.clock.now_ms();
                    ctx.health.update(|l| {
                        l.connected_since = None;
                        l.down_since.get_or_insert(now);
                        l.last_error = Some(line);
                    });
                    failures += 1;
                    let delay = Backoff::NETWORK
                        .delay_with_random_jitter(failures - 1)
                        .min(RECONNECT_CAP);
                    if wait_beating(&ctx, delay, &shutdown).await {
                        break;
                    }
                    continue;
                }
            },
        };
        failures = 0;
        let now = ctx.clock.now_ms();
        ctx.health.update(|l| {
            l.connected_since = Some(now);
            l.down_since = None;
            l.last_error = None;
        });
        info!(mottakersystem = %ctx.system, konto = %link.konto_id, "consuming Fiks IO");
        let lost = consume(&ctx, consuming, &shutdown, &mut tasks).await;
        let now = ctx.clock.now_ms();
        ctx.health.update(|l| {
            l.connected_since = None;
            l.down_since = Some(now);
            l.last_error.clone_from(&lost);
        });
        match lost {
            None => break,
            Some(why) => {
                warn!(mottakersystem = %ctx.system, error = %why, "the Fiks IO link was lost; connecting again (unacked messages come again)");
                if wait_beating(&ctx, Duration::from_millis(200), &shutdown).await {
                    break;
                }
            }
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// Takes messages until `shutdown` (`None`) or the link is lost (why).
async fn consume(
    ctx: &Arc<Context>,
    consuming: Consuming,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> Option<String> {
    let Consuming {
        connection,
        _channel,
        mut consumer,
    } = consuming;
    // Ends the message tasks of this link when it is lost: their acks could
    // not reach the broker, which redelivers them on the next link.
    let link_done = shutdown.child_token();
    let mut beat = tokio::time::interval(BEAT);
    let why = loop {
        tokio::select! {
            () = shutdown.cancelled() => break None,
            _ = beat.tick() => {
                ctx.health.pipeline.beat();
                while tasks.try_join_next().is_some() {}
            }
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    ctx.health.pipeline.beat();
                    let now = ctx.clock.now_ms();
                    ctx.health.update(|l| {
                        l.last_message_at = Some(now);
                        l.unacked += 1;
                    });
                    tasks.spawn(handle_delivery(Arc::clone(ctx), delivery, link_done.clone()));
                }
                Some(Err(e)) => break Some(e.to_string()),
                None => break Some("the broker ended the consumer".to_owned()),
            },
        }
    };
    link_done.cancel();
    if why.is_none() {
        // Unacked messages go back to the queue when the connection closes.
        let _ = connection.close(200, "mottak-agent stopping".into()).await;
    }
    why
}

/// One delivery: read its headers, hand it to the pipeline until the journal
/// settles it, then ack.
async fn handle_delivery(
    ctx: Arc<Context>,
    delivery: lapin::message::Delivery,
    stop: CancellationToken,
) {
    let melding = match read_headers(delivery.properties.headers().as_ref()) {
        Ok(m) => m,
        Err(e) => {
            if quarantine(&ctx, &delivery, &e.to_string()) {
                ack(&ctx, &delivery).await;
            }
            return;
        }
    };
    let mut attempt = 0u32;
    loop {
        let body = match &melding.dokumentlager_id {
            Some(id) => Body::Dokumentlager(id.clone()),
            None => Body::Inline(delivery.data.clone()),
        };
        match ctx.handle(&melding, body).await {
            Outcome::Ack => {
                if ack(&ctx, &delivery).await {
                    ctx.after_ack(&melding.melding_id).await;
                }
                return;
            }
            outcome => {
                let delay = if outcome == Outcome::Busy {
                    BUSY_WAIT
                } else {
                    attempt = attempt.saturating_add(1);
                    Backoff::NETWORK
                        .delay_with_random_jitter(attempt - 1)
                        .min(RETRY_CAP)
                };
                tokio::select! {
                    () = stop.cancelled() => {
                        ctx.health.update(|l| l.unacked = l.unacked.saturating_sub(1));
                        return;
                    }
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

async fn ack(ctx: &Context, delivery: &lapin::message::Delivery) -> bool {
    ctx.health
        .update(|l| l.unacked = l.unacked.saturating_sub(1));
    match delivery.acker.ack(BasicAckOptions::default()).await {
        Ok(_) => true,
        Err(e) => {
            warn!(mottakersystem = %ctx.system, error = %e, "cannot ack a Fiks IO message; the broker sends it again and the journal recognises it");
            false
        }
    }
}

/// A message without usable Fiks IO headers cannot be journaled by its id:
/// its bytes are kept under `state_dir` for a person, and then it may be
/// acked (true). One that cannot be kept stays unacked.
fn quarantine(ctx: &Context, delivery: &lapin::message::Delivery, why: &str) -> bool {
    let data = &delivery.data;
    let name = format!(
        "unreadable-{}-{}.cms",
        ctx.clock.now_ms(),
        delivery.delivery_tag
    );
    let path = ctx.kept_dir.join(&name);
    let kept = std::fs::create_dir_all(&ctx.kept_dir)
        .and_then(|()| std::fs::write(&path, data))
        .and_then(|()| std::fs::File::open(&path)?.sync_all());
    match kept {
        Ok(()) => {
            error!(mottakersystem = %ctx.system, error = %why, kept = %path.display(), "a message on the Fiks IO queue is not a Fiks IO message; it was kept and acknowledged");
            true
        }
        Err(e) => {
            error!(mottakersystem = %ctx.system, error = %why, "a message on the Fiks IO queue is not a Fiks IO message and could not be kept ({e}); it stays unacked");
            false
        }
    }
}

/// Sleeps `total` while beating; true when `shutdown` came first.
async fn wait_beating(ctx: &Context, total: Duration, shutdown: &CancellationToken) -> bool {
    let end = tokio::time::Instant::now() + total;
    loop {
        ctx.health.pipeline.beat();
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        tokio::select! {
            () = shutdown.cancelled() => return true,
            () = tokio::time::sleep(left.min(BEAT)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_the_kontos() {
        assert_eq!(
            konto_queue("2f0c4a1e-7d3b-4c55-9a0e-6b1d2c3e4f50"),
            "fiksio.konto.2f0c4a1e-7d3b-4c55-9a0e-6b1d2c3e4f50"
        );
    }
}
