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

    let mut serve = site.command(&["binhost", "serve", "--listen", "127.0.0.1:0"]);
    serve.env_remove("RUST_LOG");
    let (_server, first) = start_with_first_line(serve);
    let url = first
        .split_whitespace()
        .last()
        .filter(|u| u.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();

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
