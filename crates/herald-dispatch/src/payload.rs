//! What is stored with an action for its workers: the normalized action and,
//! when the site named a saved template, that template's per-provider choices
//! (a snapshot: editing the template later does not change queued actions).

use herald_core::UserAction;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActionPayload {
    pub action: UserAction,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_provider: BTreeMap<String, ProviderChoice>,
}

/// A saved template's choices for one provider.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderChoice {
    /// Replaces the template text for this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Provider options, e.g. Windows Live `activity_type` and `verb`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}
