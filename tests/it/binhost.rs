//! `zentoo binhost`: a tuple built locally is installed with `emerge --getbinpkg` in a fresh
//! test stage3 container that reaches `zentoo binhost serve` on the host's loopback.

use crate::support;

use crate::support::local_site::{Site, stage3, start_with_first_line};
use std::process::Command;

#[test]
fn a_fresh_container_installs_a_tuples_packages_from_the_binhost() {
    let _heavy = support::load::heavy();
    let Some(stage3) = stage3("a_fresh_container_installs_from_the_binhost") else {
        return;
    };
    let site = Site::new(stage3);
    let (code, built) = site.build(&["base-none-base"]);
    assert_eq!(code, 0, "{built:?}");

    let (_server, url) = serve(site.command(&["binhost", "serve", "--listen", "127.0.0.1:0"]));

    let config = site.zentoo(&["binhost", "config", "base-none-base", "--url", &url]);
    let conf = String::from_utf8_lossy(&config.stdout).to_string();
    assert!(
        config.status.success(),
        "{conf} {}",
        String::from_utf8_lossy(&config.stderr)
    );
    assert!(
        conf.contains("[zentoo-base-none-base]\npriority = 10\n"),
        "{conf}"
    );
    assert!(conf.contains("verify-signature = false"), "{conf}");
    let conf_file = site.dir.path().join("binrepos.conf");
    std::fs::write(&conf_file, &conf).expect("write binrepos.conf");

    // A Portage host configured like the tuple: its portage branch as /etc/portage (git
    // archive), the CFLAGS the config's comment names, and the binrepos.conf zentoo printed.
    // Host networking reaches the binhost on 127.0.0.1.
    let portage = site.dir.path().join("etc-portage");
    std::fs::create_dir(&portage).expect("mkdir");
    let archive = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "git -C {} archive portage/base | tar -x -C {}",
            site.site().display(),
            portage.display()
        ))
        .status()
        .expect("git archive");
    assert!(archive.success());
    assert!(conf.contains("CFLAGS=\"-O2 -pipe\""), "{conf}");
    let run = Command::new("podman")
        .args(["run", "--rm", "--network", "host", "-v"])
        .arg(format!("{}:/etc/portage/binrepos.conf:ro", conf_file.display()))
        .arg("-v")
        .arg(format!("{}:/site-portage:ro", portage.display()))
        .arg(stage3)
        .args([
            "sh",
            "-c",
            "cp -R /site-portage/. /etc/portage/ && echo 'CFLAGS=\"-O2 -pipe\"' >> /etc/portage/make.conf
             emerge --getbinpkg app-misc/hello app-editors/nano || exit 1
             hello; nano",
        ])
        .output()
        .expect("podman run");
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{out} {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (compiled, binary) = support::emerged(&out);
    assert_eq!(
        (compiled, binary),
        (0, 3),
        "hello, ncurses, nano from the binhost: {out}"
    );
    assert!(
        out.contains(
            "nano 7.2 (zentoo test build; CHOST=x86_64-pc-linux-gnu; CFLAGS=-O2 -pipe; USE=)"
        ),
        "{out}"
    );
    assert!(
        out.contains(" * nano-7.2-1.gpkg.tar MD5 SHA1 size ;-) ..."),
        "{out}"
    );
    assert!(
        out.contains(
            "hello 2.12.1 (zentoo test build; CHOST=x86_64-pc-linux-gnu; CFLAGS=-O2 -pipe;"
        ),
        "installed what the tuple's build compiled: {out}"
    );

    // Serving is read-only and keeps zentoo's records out of reach.
    let put = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT"])
        .arg(format!("{url}x"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&put.stdout), "405");
}

/// Starts `zentoo binhost serve` (`command`): the server and the URL it says it serves at.
fn serve(mut command: Command) -> (support::local_site::Background, String) {
    command.env_remove("RUST_LOG");
    let (server, first) = start_with_first_line(command);
    let url = first
        .split_whitespace()
        .last()
        .filter(|u| u.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    (server, url)
}

/// `curl` of `url` with `args`: (status, body).
fn curl(url: &str, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or_default();
    (code.trim().parse().unwrap_or_default(), body.to_string())
}

/// The logs builds keep on the volume (`.zentoo/logs/<image>/<build>/`), as `zentoo logs`
/// reads them from the binhost: JSON listings, files as plain text with byte ranges; nothing
/// hidden, nothing outside, nothing written.
#[test]
fn build_logs_are_served_read_only_under_logs() {
    let volume = tempfile::tempdir().expect("tempdir");
    let build = volume.path().join(".zentoo/logs/web/web-1");
    std::fs::create_dir_all(build.join("packages")).expect("mkdir");
    std::fs::write(build.join("build.log"), "zentoo[build]: done\n").expect("write");
    let package = "packages/www-servers:nginx-1.24.0:20261206-070909.log";
    std::fs::write(build.join(package), "compiling nginx\n").expect("write");
    std::os::unix::fs::symlink("/etc/passwd", build.join("passwd.log")).expect("symlink");
    std::fs::write(volume.path().join(".zentoo/secret"), "no").expect("write");

    let mut command = Command::new(env!("CARGO_BIN_EXE_zentoo"));
    command
        .args(["binhost", "serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(volume.path());
    let (_server, url) = serve(command);
    let url = url.trim_end_matches('/');

    let (code, builds) = curl(&format!("{url}/logs/web/"), &[]);
    let builds: serde_json::Value = serde_json::from_str(&builds).expect("json");
    assert_eq!((code, &builds["builds"][0]["name"]), (200, &"web-1".into()));
    let (code, listing) = curl(&format!("{url}/logs/web/web-1/"), &[]);
    let listing: serde_json::Value = serde_json::from_str(&listing).expect("json");
    let paths: Vec<&str> = listing["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert_eq!((code, paths), (200, vec!["build.log", package]));
    assert_eq!(
        curl(&format!("{url}/logs/web/web-1/{package}"), &[]),
        (200, "compiling nginx\n".to_string())
    );
    assert_eq!(
        curl(&format!("{url}/logs/web/web-1/build.log"), &["-r", "7-11"]),
        (206, "build".to_string())
    );
    let headers = Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null"])
        .arg(format!("{url}/logs/web/web-1/build.log"))
        .output()
        .expect("curl");
    let headers = String::from_utf8_lossy(&headers.stdout).to_ascii_lowercase();
    assert!(
        headers.contains("content-type: text/plain; charset=utf-8")
            && headers.contains("x-content-type-options: nosniff"),
        "{headers}"
    );
    for refused in [
        "/logs/web/web-1/passwd.log",
        "/logs/web/web-1/../../../secret",
        "/logs/web/%2e%2e/%2e%2e/secret",
        "/.zentoo/logs/web/web-1/build.log",
        "/logs/web/web-1",
        "/logs/web/web-1/build.log/",
    ] {
        assert_eq!(curl(&format!("{url}{refused}"), &[]).0, 404, "{refused}");
    }
    assert_eq!(
        curl(
            &format!("{url}/logs/web/web-1/build.log"),
            &["-X", "DELETE"]
        )
        .0,
        405
    );
}
