//! What the accept path gives the workers right after a commit: everything an
//! attempt needs from the action (its payload, app, uid and deliveries), so a
//! worker does not read back what was just written. Deliveries the hand-off
//! cannot take (the node is busy or stopping) stay in the database, where the
//! poller finds them: the hand-off is a shortcut, never the queue.

use crate::payload::ActionPayload;
use herald_core::{ActionId, AppId, ConnectionId, DeliveryId};
use herald_store::ActionRecord;
use std::sync::Arc;

/// A just-committed action and its deliveries.
#[derive(Clone, Debug)]
pub struct HandOff {
    pub action: Arc<HandOffAction>,
    pub deliveries: Vec<HandOffDelivery>,
}

/// The action's part, shared by its deliveries.
#[derive(Debug)]
pub struct HandOffAction {
    pub action_id: ActionId,
    pub app_id: AppId,
    pub uid: String,
    pub payload: ActionPayload,
}

#[derive(Clone, Debug)]
pub struct HandOffDelivery {
    pub id: DeliveryId,
    pub connection_id: ConnectionId,
    pub provider: String,
}

impl HandOff {
    /// From the record the commit returned and the payload it stored.
    pub fn new(record: &ActionRecord, payload: ActionPayload) -> HandOff {
        let a = &record.action;
        HandOff {
            action: Arc::new(HandOffAction {
                action_id: a.action_id(),
                app_id: AppId::from_stored(a.app_id.clone()),
                uid: a.uid.clone(),
                payload,
            }),
            deliveries: record
                .deliveries
                .iter()
                .map(|d| HandOffDelivery {
                    id: d.delivery_id(),
                    connection_id: ConnectionId::from_stored(d.connection_id.clone()),
                    provider: d.provider.clone(),
                })
                .collect(),
        }
    }
}
