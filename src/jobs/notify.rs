//! The notify step every job ends with: queue the messages it built and deliver everything
//! queued (older leftovers first).
//!
//! Queuing marks the announced incidents in the same transaction, so from then on they are
//! announced by exactly these messages (see `report::sink::outbox`); delivery marks each
//! message sent only when its receiver said yes. The daily run, the hourly watch, backfill's
//! `--notify` and `outbox retry` all go through here, so they cannot drift apart.

use crate::report::sink::outbox::{self, Delivered};
use crate::report::sink::NotifySettings;
use crate::state::{NewMessage, OutboxMessage, Store};

/// Queue `messages` (marking the incidents `ids` announced) and deliver everything queued.
pub async fn queue_and_deliver(
    notify: &NotifySettings,
    store: &mut Store,
    messages: &[NewMessage],
    ids: &[i64],
) -> anyhow::Result<Delivered> {
    store.queue_messages(messages, ids)?;
    outbox::deliver_all(notify, store).await
}

/// Deliver these queued messages again (`outbox retry`).
pub async fn retry(
    notify: &NotifySettings,
    store: &mut Store,
    queued: Vec<OutboxMessage>,
) -> anyhow::Result<Delivered> {
    outbox::deliver_messages(notify, store, queued).await
}
