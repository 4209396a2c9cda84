//! The cluster admin's policy on what tenants may ask: which stage3 images builds run
//! (privileged), where build pods may be scheduled, and which Secrets and claims a site may
//! mount. Set on the controller (`zentoo controller --allowed-*`, chart values `policy.*`);
//! a spec outside it is refused before any Job exists, with a message naming the field, the
//! value and the flag that would allow it. Pure.

use super::validate::Problem;
use k8s_openapi::api::core::v1::Toleration;
use zentoo_api::image::GentooImageSpec;
use zentoo_api::site::GentooSiteSpec;

/// Node labels and taint keys of control-plane nodes.
pub const CONTROL_PLANE_KEYS: [&str; 2] = [
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
];

/// What tenants' GentooSites and GentooImages may ask for. Every empty list allows anything;
/// control-plane nodes are refused unless `control_plane`.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Prefixes a stage3 reference must start with (`--allowed-stage3-prefix`).
    pub stage3_prefixes: Vec<String>,
    /// Node selector entries allowed (`--allowed-node-selector KEY=VALUE`).
    pub node_selectors: Vec<LabelPattern>,
    /// Tolerations allowed (`--allowed-toleration KEY[=VALUE][:EFFECT]`).
    pub tolerations: Vec<TolerationPattern>,
    /// Builds may select or tolerate control-plane nodes, or tolerate every taint
    /// (`--allow-control-plane`).
    pub control_plane: bool,
    /// Secret names a site may reference (`--allowed-secret`).
    pub secrets: Vec<Glob>,
    /// Claim names a site may name as `existingClaim` (`--allowed-claim`).
    pub claims: Vec<Glob>,
}

/// A shell-style pattern (`*`, `?`, `[...]`), kept with its text.
#[derive(Clone, Debug)]
pub struct Glob(glob::Pattern);

impl Glob {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Glob, String> {
        glob::Pattern::new(text)
            .map(Glob)
            .map_err(|e| format!("`{text}`: {e}"))
    }

    /// Whether `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        self.0.matches(text)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether the pattern matches every text.
    fn any(&self) -> bool {
        self.as_str() == "*"
    }
}

impl std::fmt::Display for Glob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for LabelPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

impl std::fmt::Display for TolerationPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}:{}", self.key, self.value, self.effect)
    }
}

/// `KEY=VALUE`, both globs; `KEY` alone allows any value.
#[derive(Clone, Debug)]
pub struct LabelPattern {
    key: Glob,
    value: Glob,
}

impl LabelPattern {
    /// Parses `KEY=VALUE` or `KEY`.
    pub fn parse(text: &str) -> Result<LabelPattern, String> {
        let (key, value) = text.split_once('=').unwrap_or((text, "*"));
        if key.is_empty() {
            return Err(format!("`{text}`: expected KEY=VALUE (globs)"));
        }
        Ok(LabelPattern {
            key: Glob::parse(key)?,
            value: Glob::parse(value)?,
        })
    }

    fn matches(&self, key: &str, value: &str) -> bool {
        self.key.matches(key) && self.value.matches(value)
    }
}

/// `KEY[=VALUE][:EFFECT]`, each a glob; a missing value or effect is `*`. A toleration that
/// tolerates more than a pattern names (operator `Exists` for any value, no effect for every
/// effect, no key for every taint) matches only where the pattern has `*` there.
#[derive(Clone, Debug)]
pub struct TolerationPattern {
    key: Glob,
    value: Glob,
    effect: Glob,
}

impl TolerationPattern {
    /// Parses `KEY[=VALUE][:EFFECT]`.
    pub fn parse(text: &str) -> Result<TolerationPattern, String> {
        let (rest, effect) = text.rsplit_once(':').unwrap_or((text, "*"));
        let (key, value) = rest.split_once('=').unwrap_or((rest, "*"));
        if key.is_empty() {
            return Err(format!(
                "`{text}`: expected KEY[=VALUE][:EFFECT] (globs; `*` for every key)"
            ));
        }
        Ok(TolerationPattern {
            key: Glob::parse(key)?,
            value: Glob::parse(value)?,
            effect: Glob::parse(effect)?,
        })
    }

    fn matches(&self, t: &Toleration) -> bool {
        let key = t.key.as_deref().unwrap_or_default();
        let exists = t.operator.as_deref() == Some("Exists");
        let effect = t.effect.as_deref().unwrap_or_default();
        let key_ok = if key.is_empty() {
            self.key.any()
        } else {
            self.key.matches(key)
        };
        let value_ok = if exists {
            self.value.any()
        } else {
            self.value.matches(t.value.as_deref().unwrap_or_default())
        };
        let effect_ok = if effect.is_empty() {
            self.effect.any()
        } else {
            self.effect.matches(effect)
        };
        key_ok && value_ok && effect_ok
    }
}

/// `text` quoted for a message.
fn quote(text: &str) -> String {
    zentoo_core::site::error::tidy(&format!("`{text}`"), 200)
}

/// A toleration as people write it: `key=value:Effect`, `key:Effect (Exists)`.
fn describe(t: &Toleration) -> String {
    let key = t.key.as_deref().unwrap_or_default();
    let effect = match t.effect.as_deref().unwrap_or_default() {
        "" => " (every effect)".to_string(),
        e => format!(":{e}"),
    };
    if t.operator.as_deref() == Some("Exists") {
        let key = if key.is_empty() { "*" } else { key };
        format!("{key}{effect} (Exists)")
    } else {
        format!("{key}={}{effect}", t.value.as_deref().unwrap_or_default())
    }
}

/// The patterns of a list, for a message.
fn listed<T: std::fmt::Display>(patterns: &[T]) -> String {
    patterns
        .iter()
        .map(|p| quote(&p.to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Policy {
    /// Checks the stage3 image `reference` that `field` names.
    pub fn stage3(&self, field: &str, reference: &str) -> Result<(), Problem> {
        if self.stage3_prefixes.is_empty()
            || self
                .stage3_prefixes
                .iter()
                .any(|p| reference.starts_with(p.as_str()))
        {
            return Ok(());
        }
        Err(format!(
            "{field}: stage3 {} is outside the controller's policy (allowed prefixes: {}); \
             --allowed-stage3-prefix allows more",
            quote(reference),
            listed(&self.stage3_prefixes)
        ))
    }

    /// The first part of an image's own spec outside the policy: its stage3, node selector
    /// and tolerations.
    pub fn image(&self, spec: &GentooImageSpec) -> Result<(), Problem> {
        if let Some(stage3) = &spec.stage3 {
            self.stage3("spec.stage3", stage3)?;
        }
        for (key, value) in &spec.node_selector {
            self.node_selector(key, value)
                .map_err(|why| format!("spec.nodeSelector.{key}: {}: {why}", quote(value)))?;
        }
        for (i, t) in spec.tolerations.iter().enumerate() {
            self.toleration(t)
                .map_err(|why| format!("spec.tolerations[{i}]: {}: {why}", quote(&describe(t))))?;
        }
        Ok(())
    }

    fn node_selector(&self, key: &str, value: &str) -> Result<(), String> {
        if CONTROL_PLANE_KEYS.contains(&key) && !self.control_plane {
            return Err(
                "selects control-plane nodes, which the controller's policy refuses; \
                 --allow-control-plane allows it"
                    .into(),
            );
        }
        if self.node_selectors.is_empty()
            || self.node_selectors.iter().any(|p| p.matches(key, value))
        {
            return Ok(());
        }
        Err(format!(
            "outside the controller's policy (allowed: {}); --allowed-node-selector allows more",
            listed(&self.node_selectors)
        ))
    }

    fn toleration(&self, t: &Toleration) -> Result<(), String> {
        let key = t.key.as_deref().unwrap_or_default();
        let everything = key.is_empty() && t.operator.as_deref() == Some("Exists");
        if !self.control_plane && (everything || CONTROL_PLANE_KEYS.contains(&key)) {
            let what = if everything {
                "tolerates every taint, control-plane nodes' too"
            } else {
                "tolerates control-plane nodes"
            };
            return Err(format!(
                "{what}, which the controller's policy refuses; --allow-control-plane allows it"
            ));
        }
        if self.tolerations.is_empty() || self.tolerations.iter().any(|p| p.matches(t)) {
            return Ok(());
        }
        Err(format!(
            "outside the controller's policy (allowed: {}); --allowed-toleration allows more",
            listed(&self.tolerations)
        ))
    }

    /// The first reference of a site outside the policy: the stage3 defaults, the Secrets it
    /// names (git credentials, webhook, signing key, registry) and its existing claims.
    pub fn site(&self, spec: &GentooSiteSpec) -> Result<(), Problem> {
        for (arch, stage3) in &spec.image_defaults.stage3 {
            self.stage3(&format!("spec.imageDefaults.stage3.{arch}"), stage3)?;
        }
        let secrets = [
            ("spec.source.secretRef", spec.source.secret_ref.as_ref()),
            (
                "spec.source.webhookSecretRef",
                spec.source.webhook_secret_ref.as_ref(),
            ),
            (
                "spec.storage.binpkgSigning.secretRef",
                spec.storage.binpkg_signing.as_ref().map(|s| &s.secret_ref),
            ),
            (
                "spec.imageDefaults.registrySecretRef",
                spec.image_defaults.registry_secret_ref.as_ref(),
            ),
            (
                "spec.publish.signing.secretRef",
                spec.publish.signing.as_ref().map(|s| &s.secret_ref),
            ),
        ];
        for (field, secret) in secrets {
            if let Some(secret) = secret {
                allowed(
                    &self.secrets,
                    &format!("{field}.name"),
                    "Secret",
                    &secret.name,
                    "--allowed-secret",
                )?;
            }
        }
        let storage = &spec.storage;
        for (kind, volume) in [
            ("binpkgs", &storage.binpkgs),
            ("distfiles", &storage.distfiles),
            ("repo", &storage.repo),
        ] {
            if let Some(claim) = &volume.existing_claim {
                allowed(
                    &self.claims,
                    &format!("spec.storage.{kind}.existingClaim"),
                    "claim",
                    claim,
                    "--allowed-claim",
                )?;
            }
        }
        Ok(())
    }
}

/// Checks `name` (a `what` that `field` names) against `patterns` (none: any).
fn allowed(
    patterns: &[Glob],
    field: &str,
    what: &str,
    name: &str,
    flag: &str,
) -> Result<(), Problem> {
    if patterns.is_empty() || patterns.iter().any(|p| p.matches(name)) {
        return Ok(());
    }
    Err(format!(
        "{field}: {what} {} is outside the controller's policy (allowed: {}); {flag} allows more",
        quote(name),
        listed(patterns)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zentoo_api::site::SecretRef;

    fn toleration(key: &str, operator: &str, value: &str, effect: &str) -> Toleration {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Toleration {
            key: some(key),
            operator: some(operator),
            value: some(value),
            effect: some(effect),
            toleration_seconds: None,
        }
    }

    fn image(
        stage3: Option<&str>,
        selector: &[(&str, &str)],
        tolerations: Vec<Toleration>,
    ) -> GentooImageSpec {
        GentooImageSpec {
            stage3: stage3.map(String::from),
            node_selector: selector
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            tolerations,
            ..GentooImageSpec::default()
        }
    }

    fn globs(texts: &[&str]) -> Vec<Glob> {
        texts
            .iter()
            .map(|t| Glob::parse(t).expect("glob"))
            .collect()
    }

    #[test]
    fn by_default_anything_but_control_plane_nodes_is_allowed() {
        let policy = Policy::default();
        let spec = image(
            Some("evil.example/anything:latest"),
            &[("pool", "builders")],
            vec![toleration("dedicated", "Equal", "builds", "NoSchedule")],
        );
        assert_eq!(policy.image(&spec), Ok(()));
        assert_eq!(policy.site(&GentooSiteSpec::default()), Ok(()));

        for key in CONTROL_PLANE_KEYS {
            let e = policy
                .image(&image(None, &[(key, "")], vec![]))
                .unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "spec.nodeSelector.{key}: ``: selects control-plane"
                )),
                "{e}"
            );
            assert!(e.contains("--allow-control-plane"), "{e}");
            let e = policy
                .image(&image(
                    None,
                    &[],
                    vec![toleration(key, "Exists", "", "NoSchedule")],
                ))
                .unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "spec.tolerations[0]: `{key}:NoSchedule (Exists)`: tolerates control-plane"
                )),
                "{e}"
            );
        }
        let everything = vec![
            toleration("dedicated", "Equal", "builds", ""),
            toleration("", "Exists", "", ""),
        ];
        let e = policy
            .image(&image(None, &[], everything.clone()))
            .unwrap_err();
        assert!(
            e.starts_with(
                "spec.tolerations[1]: `* (every effect) (Exists)`: tolerates every taint"
            ),
            "{e}"
        );

        let open = Policy {
            control_plane: true,
            ..Policy::default()
        };
        assert_eq!(
            open.image(&image(None, &[(CONTROL_PLANE_KEYS[0], "")], everything)),
            Ok(())
        );
    }

    #[test]
    fn stage3_must_start_with_an_allowed_prefix() {
        let policy = Policy {
            stage3_prefixes: vec![
                "docker.io/gentoo/".into(),
                "registry.internal/stage3:".into(),
            ],
            ..Policy::default()
        };
        assert_eq!(
            policy.image(&image(
                Some("docker.io/gentoo/stage3:amd64-openrc"),
                &[],
                vec![]
            )),
            Ok(())
        );
        assert_eq!(policy.stage3("x", "registry.internal/stage3:2026"), Ok(()));
        assert_eq!(
            policy.image(&image(None, &[], vec![])),
            Ok(()),
            "no stage3 of its own"
        );
        let e = policy
            .image(&image(Some("docker.io/gentoox/stage3:amd64"), &[], vec![]))
            .unwrap_err();
        assert_eq!(
            e,
            "spec.stage3: stage3 `docker.io/gentoox/stage3:amd64` is outside the controller's \
             policy (allowed prefixes: `docker.io/gentoo/`, `registry.internal/stage3:`); \
             --allowed-stage3-prefix allows more"
        );
        let mut site = GentooSiteSpec::default();
        site.image_defaults
            .stage3
            .insert("arm64".into(), "evil/stage3".into());
        let e = policy.site(&site).unwrap_err();
        assert!(
            e.starts_with("spec.imageDefaults.stage3.arm64: stage3 `evil/stage3`"),
            "{e}"
        );
    }

    #[test]
    fn node_selectors_and_tolerations_must_match_a_pattern_when_listed() {
        let policy = Policy {
            node_selectors: ["pool=builders-*", "topology.kubernetes.io/zone"]
                .iter()
                .map(|t| LabelPattern::parse(t).expect("pattern"))
                .collect(),
            tolerations: ["dedicated=builds:NoSchedule", "gpu:*", "spot"]
                .iter()
                .map(|t| TolerationPattern::parse(t).expect("pattern"))
                .collect(),
            ..Policy::default()
        };
        let ok = image(
            None,
            &[
                ("pool", "builders-arm"),
                ("topology.kubernetes.io/zone", "a"),
            ],
            vec![
                toleration("dedicated", "Equal", "builds", "NoSchedule"),
                toleration("gpu", "Exists", "", "NoExecute"),
                toleration("spot", "Exists", "", ""),
            ],
        );
        assert_eq!(policy.image(&ok), Ok(()));
        let e = policy
            .image(&image(None, &[("pool", "general")], vec![]))
            .unwrap_err();
        assert!(e.starts_with("spec.nodeSelector.pool: `general`: outside the controller's policy (allowed: `pool=builders-*`, `topology.kubernetes.io/zone=*`); --allowed-node-selector"), "{e}");
        for (t, shown) in [
            // Any value of the key is more than `dedicated=builds`.
            (
                toleration("dedicated", "Exists", "", "NoSchedule"),
                "dedicated:NoSchedule (Exists)",
            ),
            // Every effect is more than NoSchedule.
            (
                toleration("dedicated", "Equal", "builds", ""),
                "dedicated=builds (every effect)",
            ),
            (
                toleration("other", "Equal", "x", "NoSchedule"),
                "other=x:NoSchedule",
            ),
        ] {
            let e = policy.image(&image(None, &[], vec![t])).unwrap_err();
            assert!(
                e.starts_with(&format!("spec.tolerations[0]: `{shown}`: outside")),
                "{e}"
            );
            assert!(e.contains("--allowed-toleration"), "{e}");
        }
        // A listed pattern never lets control-plane nodes in by itself.
        let wide = Policy {
            node_selectors: vec![LabelPattern::parse("*").expect("pattern")],
            tolerations: vec![TolerationPattern::parse("*").expect("pattern")],
            ..Policy::default()
        };
        assert!(
            wide.image(&image(None, &[(CONTROL_PLANE_KEYS[1], "")], vec![]))
                .is_err()
        );
        assert!(
            wide.image(&image(None, &[], vec![toleration("", "Exists", "", "")]))
                .is_err()
        );
        assert_eq!(
            wide.image(&image(
                None,
                &[("any", "thing")],
                vec![toleration("x", "Exists", "", "")]
            )),
            Ok(())
        );
    }

    #[test]
    fn a_site_may_name_only_allowed_secrets_and_claims() {
        let policy = Policy {
            secrets: globs(&["team-a-*"]),
            claims: globs(&["team-a-*", "shared-distfiles"]),
            ..Policy::default()
        };
        let mut site = GentooSiteSpec::default();
        site.source.secret_ref = Some(SecretRef {
            name: "team-a-git".into(),
        });
        site.storage.distfiles.existing_claim = Some("shared-distfiles".into());
        assert_eq!(policy.site(&site), Ok(()));
        site.image_defaults.registry_secret_ref = Some(SecretRef {
            name: "team-b-push".into(),
        });
        assert_eq!(
            policy.site(&site).unwrap_err(),
            "spec.imageDefaults.registrySecretRef.name: Secret `team-b-push` is outside the \
             controller's policy (allowed: `team-a-*`); --allowed-secret allows more"
        );
        site.image_defaults.registry_secret_ref = None;
        site.storage.binpkgs.existing_claim = Some("team-b-binpkgs".into());
        let e = policy.site(&site).unwrap_err();
        assert!(
            e.starts_with("spec.storage.binpkgs.existingClaim: claim `team-b-binpkgs`"),
            "{e}"
        );
        assert!(e.ends_with("--allowed-claim allows more"), "{e}");
    }

    #[test]
    fn patterns_that_do_not_parse_name_themselves() {
        assert!(Glob::parse("team-[").unwrap_err().starts_with("`team-[`: "));
        assert!(LabelPattern::parse("=x").is_err());
        assert!(TolerationPattern::parse(":NoSchedule").is_err());
        let p = TolerationPattern::parse("a=b:NoExecute").expect("pattern");
        assert_eq!(
            (p.key.as_str(), p.value.as_str(), p.effect.as_str()),
            ("a", "b", "NoExecute")
        );
    }
}
