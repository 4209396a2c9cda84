//! The `.CONTENTS` listing of a stage tarball, in the format Gentoo's release tooling
//! (catalyst, through DeComp's `tar --xattrs -tvf`) publishes: GNU tar's verbose listing with
//! numeric owners, UTC times and C-locale name quoting.
//!
//! ```text
//! drwxr-xr-x  0/0               0 2023-11-14 22:13 ./
//! lrwxrwxrwx  0/0               0 2023-11-14 22:13 ./bin -> usr/bin
//! -rwxr-xr-x  0/0          123456 2023-11-14 22:13 ./usr/bin/busybox
//! hrwxr-xr-x  0/0               0 2023-11-14 22:13 ./usr/bin/sh link to ./usr/bin/busybox
//! -rwsr-xr-x* 0/0           12345 2023-11-14 22:13 ./usr/bin/ping
//! crw-rw-rw-  0/0             1,3 2023-11-14 22:13 ./dev/null
//! ```

use super::tar::Archived;
use super::time::listing_time;
use super::walk::Kind;

/// Formats listing lines; keeps GNU tar's growing owner/size column width.
#[derive(Debug)]
pub struct Lister {
    ugswidth: usize,
}

impl Default for Lister {
    fn default() -> Self {
        Lister { ugswidth: 19 }
    }
}

impl Lister {
    /// The listing line of one archived entry, with its newline.
    pub fn line(&mut self, a: &Archived<'_>) -> Vec<u8> {
        let e = a.entry;
        let type_char = match e.kind {
            Kind::Dir => 'd',
            Kind::File { .. } => '-',
            Kind::Symlink(_) => 'l',
            Kind::Hardlink(_) => 'h',
            Kind::Char { .. } => 'c',
            Kind::Block { .. } => 'b',
            Kind::Fifo => 'p',
        };
        let size = match e.kind {
            Kind::Char { major, minor } | Kind::Block { major, minor } => {
                format!("{major},{minor}")
            }
            _ => a.size.to_string(),
        };
        let (user, group) = (e.uid.to_string(), e.gid.to_string());
        let pad = user.len() + 1 + group.len() + 1 + size.len();
        self.ugswidth = self.ugswidth.max(pad);
        let width = self.ugswidth - pad + size.len();
        // With --xattrs, GNU tar marks entries that carry extended attributes with `*`.
        let xattr_mark = if e.xattrs.is_empty() { ' ' } else { '*' };
        let mut line = format!(
            "{type_char}{}{xattr_mark} {user}/{group} {size:>width$} {} ",
            mode_string(e.mode),
            listing_time(a.mtime)
        )
        .into_bytes();
        quote(a.name, &mut line);
        match (&e.kind, a.link) {
            (Kind::Symlink(_), Some(target)) => {
                line.extend_from_slice(b" -> ");
                quote(target, &mut line);
            }
            (Kind::Hardlink(_), Some(target)) => {
                line.extend_from_slice(b" link to ");
                quote(target, &mut line);
            }
            _ => {}
        }
        line.push(b'\n');
        line
    }
}

/// `rwxr-xr-x` with `s`/`S` and `t`/`T` like `ls`.
fn mode_string(mode: u32) -> String {
    let bit = |m: u32, c: char| if mode & m != 0 { c } else { '-' };
    let exec =
        |x: u32, special: u32, on: char, off: char| match (mode & special != 0, mode & x != 0) {
            (true, true) => on,
            (true, false) => off,
            (false, true) => 'x',
            (false, false) => '-',
        };
    [
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        exec(0o100, 0o4000, 's', 'S'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        exec(0o010, 0o2000, 's', 'S'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        exec(0o001, 0o1000, 't', 'T'),
    ]
    .iter()
    .collect()
}

/// GNU quotearg's `escape` style in the C locale.
fn quote(name: &[u8], out: &mut Vec<u8>) {
    for &b in name {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x0b => out.extend_from_slice(b"\\v"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_quoting_match_gnu_tar() {
        assert_eq!(mode_string(0o755), "rwxr-xr-x");
        assert_eq!(mode_string(0o4755), "rwsr-xr-x");
        assert_eq!(mode_string(0o2644), "rw-r-Sr--");
        assert_eq!(mode_string(0o1777), "rwxrwxrwt");
        let mut out = Vec::new();
        quote(b"a b\\c\n\xc3\xa9", &mut out);
        assert_eq!(out, b"a b\\\\c\\n\\303\\251");
    }
}
