//! Comparing a plan with an earlier one: what changed, why, and what left.

use super::SitePlan;
use crate::site::inputs::Inputs;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// What zentoo needs of an earlier plan (`zentoo plan --output json`). Read leniently, so a
/// plan from an older zentoo still compares.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct EarlierPlan {
    #[serde(default)]
    images: Vec<EarlierImage>,
}

#[derive(Clone, Debug, Deserialize)]
struct EarlierImage {
    name: String,
    #[serde(default, rename = "inputsDigest")]
    inputs_digest: String,
    #[serde(default)]
    inputs: Option<serde_json::Value>,
}

/// Reads an earlier plan from its JSON text.
pub fn parse_earlier(text: &str) -> Result<EarlierPlan, String> {
    serde_json::from_str(text).map_err(|e| format!("not a zentoo plan: {e}"))
}

impl SitePlan {
    /// Marks images changed exactly when they are new or their inputs digest differs from
    /// `earlier`, says why, and lists earlier images whose tuple left the tuples file.
    pub fn compare_with(&mut self, earlier: &EarlierPlan) {
        let before: BTreeMap<&str, &EarlierImage> = earlier
            .images
            .iter()
            .map(|i| (i.name.as_str(), i))
            .collect();
        for image in &mut self.images {
            match before.get(image.name.as_str()) {
                None => {
                    image.changed = true;
                    image.reasons = vec!["new tuple".into()];
                }
                Some(old) if old.inputs_digest == image.inputs_digest => {
                    image.changed = false;
                    image.reasons = Vec::new();
                }
                Some(old) => {
                    image.changed = true;
                    let old_inputs = old
                        .inputs
                        .clone()
                        .and_then(|v| serde_json::from_value::<Inputs>(v).ok());
                    image.reasons = old_inputs
                        .map(|o| image.inputs.changes_since(&o))
                        .filter(|r| !r.is_empty())
                        .unwrap_or_else(|| vec!["inputs digest changed".into()]);
                }
            }
        }
        let still: BTreeSet<&str> = self
            .images
            .iter()
            .map(|i| i.name.as_str())
            .chain(self.errors.iter().filter_map(|e| e.tuple.as_deref()))
            .collect();
        self.removed = before
            .keys()
            .filter(|name| !still.contains(*name))
            .map(|name| name.to_string())
            .collect();
    }
}
