//! One owner per GentooImage. Image names join site and tuple with `-`, so two sites can want
//! one name (site `a`, tuple `b-c-none-d`; site `a-b`, tuple `c-none-d`). A site touches only
//! images it controls: one held by anyone else is that tuple's error. Writes cannot steal
//! either: a new image is created (POST: refused when it exists meanwhile), an existing one
//! applied with its uid (refused when it was replaced meanwhile).

use super::error::Result;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use zentoo_api::{FIELD_MANAGER, GentooImage, GentooSite, annotations};

/// Who holds an image name, for a site.
#[derive(Debug, PartialEq, Eq)]
pub enum Holder {
    /// No image has the name.
    Free,
    /// The site's own image.
    This,
    /// Someone else's: why, for the tuple's error.
    Other(String),
}

/// Who holds `image` (the cached image of the name, if any) for the site with `uid`.
pub fn holder(image: Option<&GentooImage>, uid: &str) -> Holder {
    let Some(image) = image else {
        return Holder::Free;
    };
    let controller = image
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true));
    match controller {
        Some(o) if o.uid == uid => Holder::This,
        Some(o) if o.kind == GentooSite::kind(&()) => {
            let tuple = image
                .annotations()
                .get(annotations::TUPLE)
                .map(|t| format!(" (its tuple `{t}`)"))
                .unwrap_or_default();
            Holder::Other(format!(
                "GentooImage `{}` belongs to GentooSite `{}`{tuple}; rename this site or this \
                 tuple",
                image.name_any(),
                o.name
            ))
        }
        Some(o) => Holder::Other(format!(
            "GentooImage `{}` belongs to {} `{}`; rename this site or this tuple",
            image.name_any(),
            o.kind,
            o.name
        )),
        None => Holder::Other(format!(
            "GentooImage `{}` exists and is not this site's (made by hand?); delete it, or \
             rename this site or this tuple",
            image.name_any()
        )),
    }
}

/// How a write went.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// The image is the site's, as desired.
    Done,
    /// It was created, replaced or deleted by someone else since the cache showed it: look
    /// again once the cache has caught up.
    Raced,
}

/// Creates the image `desired` (a full object) in `namespace`; `Raced` when one of its name
/// exists.
pub async fn create(
    client: &kube::Client,
    namespace: &str,
    desired: &serde_json::Value,
) -> Result<Written> {
    let resource = ApiResource::erase::<GentooImage>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let object: DynamicObject =
        serde_json::from_value(desired.clone()).map_err(|source| super::error::Error::Object {
            what: "image object",
            source,
        })?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    match api.create(&params, &object).await {
        Ok(_) => Ok(Written::Done),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(Written::Raced),
        Err(e) => Err(e.into()),
    }
}

/// Applies `desired` to the image of the site with `uid` (as the cache shows it); `Raced`
/// when that image is gone or another replaced it (the API server checks the uid: 409 when
/// none exists, 422 when the uid differs; it never creates one).
pub async fn apply(
    api: &Api<GentooImage>,
    uid: &str,
    desired: &serde_json::Value,
) -> Result<Written> {
    let mut desired = desired.clone();
    desired["metadata"]["uid"] = uid.into();
    let name = desired["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&desired),
        )
        .await
    {
        Ok(_) => Ok(Written::Done),
        Err(kube::Error::Api(e)) if uid_refused(&e) => Ok(Written::Raced),
        Err(e) => Err(e.into()),
    }
}

/// Whether the API server refused a write for its uid precondition.
fn uid_refused(e: &kube::core::Status) -> bool {
    (e.code == 409 || e.code == 422) && e.message.contains("uid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(owner: Option<(&str, &str, &str)>, tuple: Option<&str>) -> GentooImage {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "zentoo.dev/v1alpha1",
            "kind": "GentooImage",
            "metadata": {
                "name": "a-b-c-none-d",
                "annotations": tuple.map(|t| serde_json::json!({annotations::TUPLE: t})),
                "ownerReferences": owner.map(|(kind, name, uid)| serde_json::json!([{
                    "apiVersion": "zentoo.dev/v1alpha1", "kind": kind, "name": name,
                    "uid": uid, "controller": true,
                }])),
            },
            "spec": {"siteRef": {"name": "a"}, "portage": "c", "set": "d"},
        }))
        .expect("image")
    }

    #[test]
    fn only_the_site_that_controls_an_image_holds_it() {
        assert_eq!(holder(None, "u1"), Holder::Free);
        let a = image(Some(("GentooSite", "a", "u1")), Some("b-c-none-d"));
        assert_eq!(holder(Some(&a), "u1"), Holder::This);
        assert_eq!(
            holder(Some(&a), "u2"),
            Holder::Other(
                "GentooImage `a-b-c-none-d` belongs to GentooSite `a` (its tuple `b-c-none-d`); \
                 rename this site or this tuple"
                    .into()
            )
        );
        let Holder::Other(why) = holder(Some(&image(None, None)), "u2") else {
            panic!("an image without owner is held by no site");
        };
        assert!(why.contains("is not this site's"), "{why}");
        let Holder::Other(why) = holder(Some(&image(Some(("Thing", "t", "u3")), None)), "u2")
        else {
            panic!("an image owned by another kind");
        };
        assert!(why.contains("belongs to Thing `t`"), "{why}");
    }
}
