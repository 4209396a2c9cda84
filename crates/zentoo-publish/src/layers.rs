//! Splitting a root into image layers by owning package, from Portage's records
//! ([`super::vdb`]): one layer per package (or per bucket of small packages past the layer
//! cap), then a top layer with every directory, every file no package owns as merged (config
//! written by hooks, edited `/etc` files, the vdb itself) and hard links that span packages.
//!
//! A package layer holds only its files and their parent directories, dated at most the
//! package's `BUILD_TIME` (directories exactly then), so the same binary package gives the same
//! layer digest whatever else is in the image or when it was built; the top layer, applied
//! last, gives every directory its real metadata.

use super::error::{Error, Result};
use super::vdb::{self, Owned, Package};
use super::walk::walk_meta;
use sha2::Digest;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// The default most layers of an image: well under what registries and runtimes accept
/// (containerd and Docker take 127 and more).
pub const DEFAULT_MAX_LAYERS: usize = 100;

/// The annotation value of the top layer.
pub const TOP: &str = "top";

/// One layer to pack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    /// What is in it: `category/PF` of its packages, space separated, or [`TOP`].
    pub name: String,
    /// Modification times later than this are written as this; a package layer's parent
    /// directories are dated exactly this.
    pub clamp: i64,
    /// True for a package layer: the parents of its paths go in too.
    pub package: bool,
    /// Relative paths, in the walk's order (parents before children, names in byte order).
    pub paths: Vec<PathBuf>,
    /// Content bytes of its regular files, to schedule the largest first.
    pub bytes: u64,
}

/// Where a walked entry goes.
const TOP_LAYER: u32 = u32::MAX;

/// Plans the layers of `root`: package layers (at most `max_layers - 1`, grouped by [`group`])
/// in their order, then the top layer dated at most `epoch`. None when no package owns a file
/// as merged (no Portage records): the root is then one layer.
pub fn plan_layers(root: &Path, max_layers: usize, epoch: i64) -> Result<Vec<LayerSpec>> {
    if max_layers < 2 {
        return Err(Error::invalid(
            "--max-layers",
            "a layered image needs at least 2 layers (packages and the top one)",
        ));
    }
    if !fs::symlink_metadata(root).is_ok_and(|m| m.is_dir()) {
        return Err(Error::NotADirectory { path: root.into() });
    }
    let packages = vdb::read_packages(root)?;
    if packages.is_empty() {
        return Ok(Vec::new());
    }
    let claims = claims(root, &packages);
    // Each entry once, in walk order: its path, its layer and its size if a regular file.
    let mut assigned: Vec<(PathBuf, u32, u64)> = Vec::new();
    let mut inodes: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
    walk_meta(root, |rel, disk, meta| {
        if rel.as_os_str().is_empty() {
            return Ok(());
        }
        let layer = if meta.is_dir() {
            TOP_LAYER
        } else {
            match claims.get(rel) {
                Some(Claim::One(pkg, owned)) if matches(owned, disk, meta) => *pkg,
                _ => TOP_LAYER,
            }
        };
        if !meta.is_dir() && meta.nlink() > 1 {
            inodes
                .entry((meta.dev(), meta.ino()))
                .or_default()
                .push(assigned.len());
        }
        let size = if meta.is_file() { meta.len() } else { 0 };
        assigned.push((rel.to_path_buf(), layer, size));
        Ok(())
    })?;
    // Hard links stay one file: names spread over layers all go to the top layer.
    for names in inodes.values() {
        let first = assigned[names[0]].1;
        if names.iter().any(|&i| assigned[i].1 != first) {
            for &i in names {
                assigned[i].1 = TOP_LAYER;
            }
        }
    }
    let mut bytes = vec![0u64; packages.len()];
    let mut used = vec![false; packages.len()];
    for &(_, layer, size) in &assigned {
        if layer != TOP_LAYER {
            bytes[layer as usize] += size;
            used[layer as usize] = true;
        }
    }
    let candidates: Vec<usize> = (0..packages.len()).filter(|&i| used[i]).collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let sizes: Vec<(&str, u64)> = candidates
        .iter()
        .map(|&i| (packages[i].key.as_str(), bytes[i]))
        .collect();
    let groups = group(&sizes, max_layers - 1);
    let mut layer_of = vec![TOP_LAYER; packages.len()];
    let mut specs = Vec::with_capacity(groups.len() + 1);
    for (g, members) in groups.iter().enumerate() {
        let members: Vec<usize> = members.iter().map(|&m| candidates[m]).collect();
        for &p in &members {
            layer_of[p] = g as u32;
        }
        specs.push(LayerSpec {
            name: members
                .iter()
                .map(|&p| packages[p].cpf.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            clamp: members
                .iter()
                .map(|&p| packages[p].build_time.unwrap_or(epoch))
                .max()
                .unwrap_or(epoch),
            package: true,
            paths: Vec::new(),
            bytes: members.iter().map(|&p| bytes[p]).sum(),
        });
    }
    let mut top = LayerSpec {
        name: TOP.into(),
        clamp: epoch,
        package: false,
        paths: Vec::new(),
        bytes: 0,
    };
    for (rel, pkg, _) in assigned {
        match specs.get_mut(layer_of.get(pkg as usize).copied().unwrap_or(TOP_LAYER) as usize) {
            Some(spec) => spec.paths.push(rel),
            None => top.paths.push(rel),
        }
    }
    specs.push(top);
    Ok(specs)
}

/// Groups packages (`(key, bytes)`, any order) into at most `slots` layers. When they fit,
/// each package has its own layer, in key order. Otherwise the largest take their own layers
/// and the rest share `slots / 4` buckets chosen by a hash of their key (`category/PN:SLOT`,
/// stable across versions): a change to a small package then re-uploads only its bucket.
/// Buckets come first, then the own layers in key order; members in key order.
pub fn group(packages: &[(&str, u64)], slots: usize) -> Vec<Vec<usize>> {
    let slots = slots.max(1);
    let mut by_key: Vec<usize> = (0..packages.len()).collect();
    by_key.sort_by(|&a, &b| packages[a].0.cmp(packages[b].0));
    if packages.len() <= slots {
        return by_key.into_iter().map(|i| vec![i]).collect();
    }
    let buckets = (slots / 4).max(1);
    let own = slots - buckets;
    let mut by_size = by_key.clone();
    by_size.sort_by(|&a, &b| {
        packages[b]
            .1
            .cmp(&packages[a].1)
            .then_with(|| packages[a].0.cmp(packages[b].0))
    });
    let mut own_layer = vec![false; packages.len()];
    for &i in &by_size[..own] {
        own_layer[i] = true;
    }
    let mut shared: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for &i in &by_key {
        if !own_layer[i] {
            let hash = sha2::Sha256::digest(packages[i].0.as_bytes());
            let mut first = [0u8; 8];
            first.copy_from_slice(&hash[..8]);
            shared
                .entry(u64::from_be_bytes(first) % buckets as u64)
                .or_default()
                .push(i);
        }
    }
    let mut groups: Vec<Vec<usize>> = shared.into_values().collect();
    groups.extend(
        by_key
            .into_iter()
            .filter(|&i| own_layer[i])
            .map(|i| vec![i]),
    );
    groups
}

/// Who claims a path: one package and what it merged there, or several (then nobody).
enum Claim {
    One(u32, Owned),
    Contested,
}

/// Every non-directory path the packages recorded, resolved through the root's symlinked
/// directories (`/bin` → `usr/bin`) to where it is on disk, relative to the root.
fn claims(root: &Path, packages: &[Package]) -> HashMap<PathBuf, Claim> {
    let mut resolver = Resolver {
        root,
        dirs: HashMap::new(),
    };
    let mut claims = HashMap::new();
    for (i, package) in packages.iter().enumerate() {
        for line in &package.contents {
            if line.owned == Owned::Dir {
                continue;
            }
            let Some(rel) = resolver.resolve(&line.path) else {
                continue;
            };
            claims
                .entry(rel)
                .and_modify(|c| *c = Claim::Contested)
                .or_insert_with(|| Claim::One(i as u32, line.owned.clone()));
        }
    }
    claims
}

/// Does the file on disk still hold what the package merged?
fn matches(owned: &Owned, disk: &Path, meta: &fs::Metadata) -> bool {
    let ft = meta.file_type();
    match owned {
        Owned::Obj { mtime } => ft.is_file() && meta.mtime() == *mtime,
        Owned::Sym { target } => ft.is_symlink() && fs::read_link(disk).is_ok_and(|t| &t == target),
        Owned::Special => ft.is_fifo() || ft.is_char_device() || ft.is_block_device(),
        Owned::Dir => false,
    }
}

/// Resolves recorded absolute paths inside the root, as a chroot would: symlinked parent
/// directories followed (at most [`MAX_HOPS`]), `..` never above the root.
struct Resolver<'a> {
    root: &'a Path,
    dirs: HashMap<PathBuf, Option<PathBuf>>,
}

const MAX_HOPS: usize = 40;

impl Resolver<'_> {
    /// Where the recorded `path` is, relative to the root; `None` if it cannot be.
    fn resolve(&mut self, path: &Path) -> Option<PathBuf> {
        let name = path.file_name()?;
        let parent = path.parent()?;
        let dir = match self.dirs.get(parent) {
            Some(dir) => dir.clone(),
            None => {
                let dir = resolve_dir(self.root, parent);
                self.dirs.insert(parent.to_path_buf(), dir.clone());
                dir
            }
        };
        Some(dir?.join(name))
    }
}

fn resolve_dir(root: &Path, dir: &Path) -> Option<PathBuf> {
    let mut pending: Vec<OsString> = components(dir);
    let mut at = PathBuf::new();
    let mut hops = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            at.pop();
            continue;
        }
        let next = at.join(&name);
        match fs::symlink_metadata(root.join(&next)) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_HOPS {
                    return None;
                }
                let target = fs::read_link(root.join(&next)).ok()?;
                if target.is_absolute() {
                    at = PathBuf::new();
                }
                pending.extend(components(&target));
            }
            _ => at = next,
        }
    }
    Some(at)
}

/// The normal and `..` components of `path`, last first (a stack to pop).
fn components(path: &Path) -> Vec<OsString> {
    let mut out: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn packages_that_fit_get_a_layer_each_in_key_order() {
        let groups = group(&[("b/x:0", 5), ("a/y:0", 1), ("c/z:0", 9)], 3);
        assert_eq!(groups, [vec![1], vec![0], vec![2]]);
    }

    #[test]
    fn past_the_cap_the_largest_keep_their_layers_and_the_rest_share_buckets() {
        let keys: Vec<String> = (0..50).map(|i| format!("cat/p{i:02}:0")).collect();
        let packages: Vec<(&str, u64)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i as u64 * 100))
            .collect();
        let groups = group(&packages, 9);
        assert!(groups.len() <= 9);
        let mut all: Vec<usize> = groups.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(
            all,
            (0..50).collect::<Vec<_>>(),
            "every package exactly once"
        );
        // 2 buckets (9 / 4), then the 7 largest alone, in key order.
        let own: Vec<&Vec<usize>> = groups.iter().filter(|g| g.len() == 1).collect();
        assert_eq!(own.len(), 7);
        assert_eq!(
            groups[groups.len() - 7..],
            (43..50).map(|i| vec![i]).collect::<Vec<_>>()
        );
        // A small package's bucket depends on its key, not on the others' sizes.
        let mut grown = packages.clone();
        grown[3].1 = 1;
        assert_eq!(group(&grown, 9), groups);
    }

    fn record(root: &Path, cpf: &str, build_time: i64, contents: &str) {
        let dir = root.join(vdb::VDB).join(cpf);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("CONTENTS"), contents).unwrap();
        fs::write(dir.join("BUILD_TIME"), format!("{build_time}\n")).unwrap();
        fs::write(dir.join("SLOT"), "0\n").unwrap();
    }

    fn file(root: &Path, rel: &str, mtime: i64) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, rel).unwrap();
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime as u64);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    #[test]
    fn files_go_to_the_package_that_merged_them_as_they_are() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        symlink("usr/bin", root.join("bin")).unwrap();
        file(root, "usr/bin/bash", 100);
        file(root, "usr/bin/edited", 200);
        file(root, "etc/hook.conf", 300);
        file(root, "usr/lib/libz.so.1", 400);
        symlink("libz.so.1", root.join("usr/lib/libz.so")).unwrap();
        fs::hard_link(root.join("usr/lib/libz.so.1"), root.join("usr/bin/zlink")).unwrap();
        record(
            root,
            "app-shells/bash-5.2_p37",
            1000,
            "dir /bin\nobj /bin/bash 0 100\nobj /usr/bin/edited 0 150\nobj /usr/bin/zlink 0 400\n",
        );
        record(
            root,
            "sys-libs/zlib-1.3.1",
            2000,
            "obj /usr/lib/libz.so.1 0 400\nsym /usr/lib/libz.so -> libz.so.1 400\n",
        );
        let specs = plan_layers(root, 100, 5000).unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["app-shells/bash-5.2_p37", "sys-libs/zlib-1.3.1", TOP]
        );
        assert_eq!(
            specs[0].paths,
            [Path::new("usr/bin/bash")],
            "found through /bin"
        );
        assert_eq!(specs[0].clamp, 1000);
        assert_eq!(
            specs[1].paths,
            [Path::new("usr/lib/libz.so")],
            "the hard-linked library went up with its other name"
        );
        let top = &specs[2];
        assert_eq!(top.clamp, 5000);
        for rel in [
            "bin",
            "etc",
            "etc/hook.conf",
            "usr",
            "usr/bin/edited",
            "usr/bin/zlink",
        ] {
            assert!(top.paths.contains(&PathBuf::from(rel)), "{rel} on top");
        }
        assert!(
            top.paths
                .contains(&PathBuf::from("var/db/pkg/sys-libs/zlib-1.3.1/CONTENTS"))
        );
        let total: usize = specs.iter().map(|s| s.paths.len()).sum();
        let mut walked = 0;
        walk_meta(root, |_, _, _| {
            walked += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(total, walked - 1, "every entry but the root, once");
    }

    #[test]
    fn recorded_paths_never_resolve_above_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        symlink("/../../etc", root.join("up")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        let mut resolver = Resolver {
            root,
            dirs: HashMap::new(),
        };
        assert_eq!(
            resolver.resolve(Path::new("/up/passwd")),
            Some("etc/passwd".into())
        );
        assert_eq!(
            resolver.resolve(Path::new("/../../x/y")),
            Some("x/y".into())
        );
        assert_eq!(resolver.resolve(Path::new("/loop/x")), None);
        assert!(plan_layers(root, 1, 0).is_err());
    }
}
