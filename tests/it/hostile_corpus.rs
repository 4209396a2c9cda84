//! Runs every case of the hostile input corpus (`tests/corpus/`, see its README): each must be
//! refused with a clear error naming where, never a panic, and the rest of the site must still
//! plan. Materializing never writes outside its directory. The CR specs run against the real
//! control plane in `hostile_specs_are_refused_or_reported_and_the_good_site_still_builds`.

use crate::support;
use crate::support::controller;

use crate::support::site::Site;
use git2::{ObjectType, Oid, Repository};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use zentoo::plan::build::MaterializeSpec;
use zentoo::plan::{PlanOptions, SitePlan, plan_site};
use zentoo::render::names::{MAX_LABEL, image_name, name_collisions};
use zentoo::site::materialize::Limits;
use zentoo::site::{ReadOptions, SiteRepo};

/// Longest error text a case may produce: errors quote a bounded part of what they point at.
const MAX_ERROR_TEXT: usize = 1024;

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind);
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e != "expect"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    cases
}

/// The expectations of a case: `# <key>: <text>` lines (or lines of `<case>.expect`).
#[derive(Debug, Default)]
struct Expect {
    errors: Vec<String>,
    planned: Vec<String>,
    materialize: Vec<(String, String)>,
    read: Option<String>,
}

fn expectations(case: &Path) -> Expect {
    let bytes = fs::read(case).expect("read case");
    let text = String::from_utf8_lossy(&bytes);
    let mut e = Expect::default();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let Some(rest) = line.strip_prefix("# expect") else {
            continue;
        };
        let (key, value) = rest
            .split_once(": ")
            .unwrap_or((rest.trim_end_matches(':'), ""));
        match key {
            "" => e.errors.push(value.to_string()),
            "-planned" => e.planned.push(value.to_string()),
            "-read" => e.read = Some(value.to_string()),
            "-materialize" => {
                let (image, what) = value.split_once(": ").expect("image: text");
                e.materialize.push((image.to_string(), what.to_string()));
            }
            other => panic!("{}: unknown expectation `# expect{other}`", case.display()),
        }
    }
    e
}

/// Writes `content` at `path` of `branch`'s tree (replacing it), committing on top.
fn commit_bytes(repo: &Repository, branch: &str, files: &[(&str, Vec<u8>)]) -> Oid {
    use git2::build::TreeUpdateBuilder;
    let refname = format!("refs/heads/{branch}");
    let parent = repo
        .find_reference(&refname)
        .ok()
        .map(|r| r.peel_to_commit().expect("branch commit"));
    let base = match &parent {
        Some(c) => c.tree().expect("tree"),
        None => repo
            .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
            .unwrap(),
    };
    let mut update = TreeUpdateBuilder::new();
    for (path, content) in files {
        let blob = repo.blob(content).expect("blob");
        update.upsert(*path, blob, git2::FileMode::Blob);
    }
    let tree = repo
        .find_tree(update.create_updated(repo, &base).expect("tree update"))
        .unwrap();
    commit_tree(repo, branch, tree.id(), parent)
}

fn commit_tree(repo: &Repository, branch: &str, tree: Oid, parent: Option<git2::Commit>) -> Oid {
    let sig = git2::Signature::new("corpus", "corpus@zentoo.dev", &git2::Time::new(1, 0)).unwrap();
    let tree = repo.find_tree(tree).expect("tree object");
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let id = repo
        .commit(None, &sig, &sig, "corpus case", &tree, &parents)
        .expect("commit");
    repo.reference(&format!("refs/heads/{branch}"), id, true, "corpus")
        .expect("branch ref");
    id
}

fn read_and_plan(site: &Site) -> Result<SitePlan, String> {
    let repo = SiteRepo::open(site.path()).map_err(|e| e.to_string())?;
    let snapshot = repo
        .snapshot(&ReadOptions::default())
        .map_err(|e| e.to_string())?;
    let mut plan = plan_site(&snapshot, &PlanOptions::default());
    name_collisions("demo", &mut plan);
    Ok(plan)
}

/// Checks a plan against the expectations: every error expected (each matched by one error's
/// text), bounded, naming a file and a field; every expected tuple planned; image names
/// DNS-safe and distinct.
fn check_plan(case: &Path, plan: &SitePlan, expect: &Expect) {
    let shown: Vec<String> = plan.errors.iter().map(ToString::to_string).collect();
    let all = || shown.join("\n");
    let mut unmatched: Vec<&String> = shown.iter().collect();
    for want in &expect.errors {
        let Some(i) = unmatched.iter().position(|e| e.starts_with(want.as_str())) else {
            panic!(
                "{}: no error starts with {want:?}; the errors are:\n{}",
                case.display(),
                all()
            );
        };
        unmatched.remove(i);
    }
    assert!(
        unmatched.is_empty(),
        "{}: errors not in the case's expectations:\n{}",
        case.display(),
        unmatched
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    for e in &plan.errors {
        let text = e.to_string();
        assert!(
            text.len() <= MAX_ERROR_TEXT,
            "{}: an error of {} bytes: {}…",
            case.display(),
            text.len(),
            text.chars().take(200).collect::<String>()
        );
        assert!(!e.file.is_empty() && !e.field.is_empty(), "{text}");
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{}: a raw control character in {text:?}",
            case.display()
        );
    }
    let planned: Vec<&str> = plan.images.iter().map(|i| i.name.as_str()).collect();
    for want in &expect.planned {
        assert!(
            planned.contains(&want.as_str()),
            "{}: {want} was not planned; planned {planned:?}; errors:\n{}",
            case.display(),
            all()
        );
    }
    let mut names: Vec<String> = plan
        .images
        .iter()
        .map(|i| image_name("demo", &i.name))
        .collect();
    for n in &names {
        assert!(
            n.len() <= MAX_LABEL
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{}: image name {n:?} is not a DNS label",
            case.display()
        );
    }
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(
        before,
        names.len(),
        "{}: two images share a name",
        case.display()
    );
}

/// Plans a site whose `main` branch got `files` (raw bytes) on top of the standard site.
fn plan_with(case: &Path, tuples: Vec<u8>, files: &[(&str, Vec<u8>)]) {
    let expect = expectations(case);
    let site = Site::standard("");
    let mut all = vec![("tuples", tuples)];
    all.extend(files.iter().cloned());
    commit_bytes(&site.repo, "main", &all);
    match (read_and_plan(&site), &expect.read) {
        (Ok(plan), None) => check_plan(case, &plan, &expect),
        (Err(e), Some(want)) => assert!(
            e.contains(want.as_str()),
            "{}: the site could not be read, but not as expected ({want:?}): {e}",
            case.display()
        ),
        (Ok(plan), Some(want)) => panic!(
            "{}: expected the site not to be readable ({want}), it planned: {:?}",
            case.display(),
            plan.errors
        ),
        (Err(e), None) => panic!("{}: the site could not be read: {e}", case.display()),
    }
}

#[test]
fn every_hostile_tuples_file_is_reported_by_line_and_field() {
    for case in corpus("tuples") {
        let mut text = fs::read(&case).expect("read case");
        if !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        text.extend_from_slice(b"amd64-server-nodocs-web\n");
        plan_with(&case, text, &[]);
    }
}

#[test]
fn every_hostile_set_stops_only_its_tuples() {
    for case in corpus("sets") {
        let set = fs::read(&case).expect("read case");
        plan_with(
            &case,
            b"desktop-none-hostile\nserver-nodocs-web\n".to_vec(),
            &[("sets/hostile", set)],
        );
    }
}

#[test]
fn every_hostile_cpus_yaml_leaves_the_built_in_cpus_working() {
    for case in corpus("cpus") {
        let cpus = fs::read(&case).expect("read case");
        plan_with(
            &case,
            b"amd64-server-nodocs-web\nzen-desktop-none-kde\n".to_vec(),
            &[("cpus.yaml", cpus)],
        );
    }
}

/// Writes a tree from its description, entry by entry, with names as given (`..`, `/`...).
fn raw_tree(repo: &Repository, entries: &[serde_json::Value]) -> Oid {
    let mut buf = Vec::new();
    for entry in entries {
        let name = entry["name"].as_str().expect("entry name");
        let (mode, id) = if let Some(text) = entry.get("file").and_then(|v| v.as_str()) {
            ("100644", repo.blob(text.as_bytes()).unwrap())
        } else if let Some(text) = entry.get("exec").and_then(|v| v.as_str()) {
            ("100755", repo.blob(text.as_bytes()).unwrap())
        } else if let Some(target) = entry.get("symlink").and_then(|v| v.as_str()) {
            ("120000", repo.blob(target.as_bytes()).unwrap())
        } else if let Some(children) = entry.get("tree").and_then(|v| v.as_array()) {
            ("40000", raw_tree(repo, children))
        } else if let Some(size) = entry.get("zeros").and_then(|v| v.as_u64()) {
            let mut writer = repo.blob_writer(None).unwrap();
            let chunk = vec![0u8; 1 << 20];
            let mut left = size as usize;
            while left > 0 {
                let n = left.min(chunk.len());
                std::io::Write::write_all(&mut writer, &chunk[..n]).unwrap();
                left -= n;
            }
            ("100644", writer.commit().unwrap())
        } else if let Some(depth) = entry.get("nest").and_then(|v| v.as_u64()) {
            let mut id = raw_tree(repo, &[serde_json::json!({"name": "leaf", "file": "x\n"})]);
            for _ in 1..depth {
                id = raw_tree_of(repo, &[("40000", name.as_bytes(), id)]);
            }
            ("40000", id)
        } else if let Some(commit) = entry.get("gitlink").and_then(|v| v.as_str()) {
            ("160000", Oid::from_str(commit).unwrap())
        } else {
            panic!("entry {entry}: give file, exec, symlink, tree, zeros, nest or gitlink");
        };
        push_entry(&mut buf, mode, name.as_bytes(), id);
    }
    repo.odb().unwrap().write(ObjectType::Tree, &buf).unwrap()
}

fn raw_tree_of(repo: &Repository, entries: &[(&str, &[u8], Oid)]) -> Oid {
    let mut buf = Vec::new();
    for (mode, name, id) in entries {
        push_entry(&mut buf, mode, name, *id);
    }
    repo.odb().unwrap().write(ObjectType::Tree, &buf).unwrap()
}

fn push_entry(buf: &mut Vec<u8>, mode: &str, name: &[u8], id: Oid) {
    buf.extend_from_slice(mode.as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(name);
    buf.push(0);
    buf.extend_from_slice(id.as_bytes());
}

/// Every file and directory under `dir`, with its size.
fn snapshot_of(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let meta = fs::symlink_metadata(&p).expect("metadata");
            out.insert(p.clone(), meta.len());
            if meta.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

#[test]
fn every_hostile_site_plans_what_it_can_and_never_writes_outside() {
    for case in corpus("sites") {
        let expect = expectations(&case);
        let text = fs::read_to_string(&case).expect("read case");
        let desc: serde_json::Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let site = Site::standard("");
        let repo = &site.repo;
        for (branch, entries) in desc["branches"].as_object().into_iter().flatten() {
            let tree = raw_tree(repo, entries.as_array().expect("entries"));
            commit_tree(repo, branch, tree, None);
        }
        let mut files: Vec<(String, Vec<u8>)> = vec![(
            "tuples".into(),
            desc["tuples"]
                .as_str()
                .unwrap_or_default()
                .as_bytes()
                .to_vec(),
        )];
        for (path, content) in desc["files"].as_object().into_iter().flatten() {
            files.push((path.clone(), content.as_str().unwrap_or_default().into()));
        }
        if let Some(chain) = desc["generate"].get("chain") {
            let prefix = chain["prefix"].as_str().unwrap();
            let depth = chain["depth"].as_u64().unwrap();
            for i in 0..depth {
                let body = if i + 1 == depth {
                    "app-misc/hello\n".to_string()
                } else {
                    format!("app-misc/level{i}\n@{prefix}{}\n", i + 1)
                };
                files.push((format!("sets/{prefix}{i}"), body.into_bytes()));
            }
        }
        if let Some(big) = desc["generate"].get("big") {
            let prefix = big["prefix"].as_str().unwrap();
            let bytes = big["bytes"].as_u64().unwrap() as usize;
            for i in 0..big["count"].as_u64().unwrap() {
                let line = format!("app-misc/big{i}\n");
                let body = line.repeat(bytes / line.len());
                files.push((format!("sets/{prefix}{i}"), body.into_bytes()));
            }
        }
        if let Some(wide) = desc["generate"].get("wide") {
            let name = wide["name"].as_str().unwrap();
            let atoms = wide["atoms"].as_u64().unwrap();
            let body: String = (0..atoms).map(|i| format!("app-misc/p{i}\n")).collect();
            files.push((format!("sets/{name}"), body.into_bytes()));
        }
        let borrowed: Vec<(&str, Vec<u8>)> =
            files.iter().map(|(p, c)| (p.as_str(), c.clone())).collect();
        commit_bytes(repo, "main", &borrowed);

        let started = std::time::Instant::now();
        let plan = read_and_plan(&site).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        eprintln!("{}: planned in {:?}", case.display(), started.elapsed());
        check_plan(&case, &plan, &expect);

        // Materialize every planned image into its own work dir inside `inside/`, next to
        // `outside/` and under a parent nothing else may appear in.
        let scratch = tempfile::tempdir().unwrap();
        let inside = scratch.path().join("inside");
        let outside = scratch.path().join("outside");
        fs::create_dir_all(&inside).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("keep"), "untouched\n").unwrap();
        let outside_before = snapshot_of(&outside);
        let mut failures: BTreeMap<String, String> = BTreeMap::new();
        for image in &plan.images {
            let name = image_name("demo", &image.name);
            let spec = MaterializeSpec {
                revision: plan.revision.clone(),
                portage_tree: image.inputs.portage.tree.clone(),
                buildhooks_tree: image.inputs.buildhooks.as_ref().map(|b| b.tree.clone()),
                sets: image.inputs.sets.clone(),
            };
            let dest = inside.join(&name).join("work");
            if let Err(e) = zentoo::steps::write_work_dir(repo, &spec, &dest, &Limits::default()) {
                failures.insert(name, e.to_string());
            }
        }
        assert_eq!(
            snapshot_of(&outside),
            outside_before,
            "{}: something was written outside",
            case.display()
        );
        let top: Vec<String> = fs::read_dir(scratch.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(top.len(), 2, "{}: {top:?}", case.display());
        assert!(
            !Path::new("/tmp/zentoo-escape").exists(),
            "{}: an absolute path was written",
            case.display()
        );
        for (image, want) in &expect.materialize {
            let got = failures.remove(image).unwrap_or_else(|| {
                panic!("{}: materializing {image} did not fail", case.display())
            });
            assert!(
                got.starts_with(want.as_str()),
                "{}: materializing {image}: {got}\nexpected it to start with {want:?}",
                case.display()
            );
        }
        assert!(
            failures.is_empty(),
            "{}: unexpected materialize failures: {failures:#?}",
            case.display()
        );
    }
}

#[test]
fn every_hostile_webhook_body_is_refused_or_read_without_a_panic() {
    use axum::http::{HeaderMap, HeaderValue};
    use zentoo::controller::webhook::verify::{Kind, concerns, sign, verify};
    const SECRET: &[u8] = b"corpus-secret";
    for case in corpus("webhooks") {
        let body = fs::read(&case).expect("read case");
        let want = fs::read_to_string(case.with_extension("expect"))
            .unwrap_or_else(|e| panic!("{}: its .expect: {e}", case.display()));
        let want = want.trim();
        let mut headers = HeaderMap::new();
        headers.insert("x-github-event", HeaderValue::from_static("push"));
        headers.insert("x-github-delivery", HeaderValue::from_static("corpus"));
        let signature = format!("sha256={}", sign(SECRET, &body));
        headers.insert(
            "x-hub-signature-256",
            HeaderValue::from_str(&signature).unwrap(),
        );
        let got = match verify(&headers, &body, SECRET) {
            Err(reject) => format!("reject {reject:?}"),
            Ok(event) => match event.kind {
                Kind::Push {
                    git_ref,
                    default_branch,
                } => {
                    let hit = concerns(
                        &git_ref,
                        None,
                        default_branch.as_deref().or(Some("main")),
                        "portage/",
                        "buildhooks/",
                    );
                    format!(
                        "push {git_ref} {}",
                        if hit { "concerns" } else { "ignored" }
                    )
                }
                other => format!("{other:?}"),
            },
        };
        assert_eq!(got, want, "{}", case.display());
        // A body signed with another secret is refused before it is read.
        assert!(
            verify(&headers, &body, b"other").is_err(),
            "{}",
            case.display()
        );
    }
}

/// The Ready condition of object `name` of `api` as (reason, message).
async fn ready_of(
    api: &kube::Api<kube::api::DynamicObject>,
    name: &str,
) -> Option<(String, String)> {
    let obj = api.get(name).await.ok()?;
    let conditions = obj
        .data
        .get("status")?
        .get("conditions")?
        .as_array()?
        .clone();
    conditions.iter().find(|c| c["type"] == "Ready").map(|c| {
        (
            c["reason"].as_str().unwrap_or_default().to_string(),
            c["message"].as_str().unwrap_or_default().to_string(),
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_specs_are_refused_or_reported_and_the_good_site_still_builds() {
    use kube::api::{Api, ApiResource, DynamicObject, PostParams};
    use std::time::Duration;
    use zentoo::api::{GentooImage, GentooSite};
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let env = controller::setup(&kube, "corpus-specs", "desktop-none-kde\n", "1m").await;
    let ns = &env.ns;
    let api_for = |kind: &str| -> Api<DynamicObject> {
        let resource = match kind {
            "GentooSite" => ApiResource::erase::<GentooSite>(&()),
            "GentooImage" => ApiResource::erase::<GentooImage>(&()),
            other => panic!("a spec case of kind {other}"),
        };
        Api::namespaced_with(ns.client.clone(), &ns.name, &resource)
    };
    let mut pending = Vec::new();
    for case in corpus("specs") {
        let text = fs::read_to_string(&case)
            .expect("read case")
            .replace("${GIT_URL}", &env.git.url);
        let expect = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
                .map(str::to_string)
        };
        let value: serde_json::Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        let name = value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let object: DynamicObject = serde_json::from_value(value).expect("object");
        let api = api_for(&kind);
        let created = api.create(&PostParams::default(), &object).await;
        match (expect("expect-api"), expect("expect-refused"), created) {
            (Some(want), _, Err(e)) => {
                let e = e.to_string();
                assert!(e.contains(&want), "{}: refused, but: {e}", case.display());
            }
            (Some(want), _, Ok(_)) => {
                panic!(
                    "{}: the API server accepted it (expected {want:?})",
                    case.display()
                )
            }
            (None, Some(want), Err(e)) => {
                let e = e.to_string();
                assert!(e.contains(&want), "{}: refused, but: {e}", case.display());
            }
            (None, Some(want), Ok(_)) => {
                pending.push((case, kind, name, "SpecInvalid".to_string(), want));
            }
            (None, None, Err(e)) => panic!("{}: refused: {e}", case.display()),
            (None, None, Ok(_)) => {
                let want = expect("expect-status")
                    .unwrap_or_else(|| panic!("{}: no expectation", case.display()));
                let (reason, text) = want.split_once(": ").unwrap_or((&want, ""));
                pending.push((case, kind, name, reason.to_string(), text.to_string()));
            }
        }
    }
    for (case, kind, name, reason, text) in pending {
        let api = api_for(&kind);
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let Some((r, m)) = ready_of(&api, &name).await
                    && r == reason
                    && m.contains(&text)
                {
                    return (r, m);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        let last = ready_of(&api, &name).await;
        let (_, message) = waited.unwrap_or_else(|_| {
            panic!(
                "{}: Ready never had reason {reason} and a message holding {text:?}; it is {last:?}",
                case.display()
            )
        });
        assert!(
            !message.chars().any(|c| c.is_control() && c != '\n'),
            "{}: {message:?}",
            case.display()
        );
        eprintln!("{}: {reason}: {message}", case.display());
    }
    // The good site was never disturbed: its image builds.
    let image = image_name("demo", "desktop-none-kde");
    let job = controller::wait_jobs(ns, &image, 1).await.remove(0);
    controller::finish_build(ns, &kube::ResourceExt::name_any(&job), "sha256:600d").await;
    controller::wait_ready(ns, &image, "True", None).await;
    // So does the site with the dotted name (its long Job name still makes valid volumes).
    controller::wait_jobs(ns, &image_name("my.site.example", "desktop-none-kde"), 1).await;
}
