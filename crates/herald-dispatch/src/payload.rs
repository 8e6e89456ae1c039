//! What is stored with an action for its workers: the normalized action.

use herald_core::UserAction;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActionPayload {
    pub action: UserAction,
}
