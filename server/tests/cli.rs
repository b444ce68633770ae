//! The operator CLI (`omadm device ...`, `omadm command ...`, `omadm alerts`) run as the built
//! binary against a temporary SQLite file.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "omadm-cli-{}-{}",
            std::process::id(),
            omadm_server::app::random_token()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `omadm <args>` on the database `url`, with the environment scrubbed of our variables.
fn omadm(url: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omadm"));
    for var in ["OMADM_CONFIG", "OMADM_SERVER_ID", "OMADM_DEVICE_PASSWORD", "OMADM_SERVER_PASSWORD"] {
        cmd.env_remove(var);
    }
    cmd.env("OMADM_DATABASE_URL", url).args(args).output().expect("run omadm")
}

/// Run and expect success; stdout.
fn ok(url: &str, args: &[&str]) -> String {
    let out = omadm(url, args);
    assert!(
        out.status.success(),
        "omadm {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Run and expect failure with exit code 2 and a one-line message; stderr.
fn fails(url: &str, args: &[&str]) -> String {
    let out = omadm(url, args);
    assert_eq!(out.status.code(), Some(2), "omadm {args:?}: {out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("omadm: "), "{err:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    err
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn devices_and_commands_from_the_command_line() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("omadm.db").display());

    // Add (with the server's credentials), list, show.
    let out = ok(
        &url,
        &[
            "device",
            "add",
            "IMEI:1",
            "--auth",
            "md5",
            "--username",
            "u",
            "--password",
            "p-secret",
            "--nonce",
            "bm9uY2U=",
            "--server-password",
            "sp-secret",
            "--server-id",
            "srv1",
        ],
    );
    assert!(out.contains("IMEI:1") && out.contains("md5"), "{out}");
    assert!(!out.contains("p-secret") && !out.contains("bm9uY2U="), "{out}");
    let d = json_of(&ok(
        &url,
        &["device", "add", "IMEI:2", "--auth", "basic", "--username", "u2", "--password", "pw", "--json"],
    ));
    assert_eq!(d["device_id"], "IMEI:2");
    assert_eq!(d["client_auth"], json!({"type": "basic", "username": "u2"}));
    assert_eq!((d["server_id"].as_str(), d["server_auth"].as_bool()), (Some("omadm"), Some(false)));

    let table = ok(&url, &["device", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("DEVICE"), "{table}");
    assert!(
        lines[1].starts_with("IMEI:1 ") && lines[1].contains("srv1") && lines[1].contains("yes"),
        "{table}"
    );
    assert!(lines[2].starts_with("IMEI:2 "), "{table}");
    let page = json_of(&ok(&url, &["device", "list", "--json", "--limit", "1"]));
    assert_eq!(page["devices"][0]["device_id"], "IMEI:1");
    assert_eq!(page["next_after"], "IMEI:1");

    let show = ok(&url, &["device", "show", "IMEI:1"]);
    assert!(show.contains("srv1") && show.contains("inventory (0 nodes)"), "{show}");
    let shown = json_of(&ok(&url, &["device", "show", "IMEI:1", "--json"]));
    assert_eq!(shown["server_auth"], true);
    assert_eq!(shown["inventory"], json!([]));

    // Errors: one line, exit code 2.
    assert!(
        fails(&url, &["device", "add", "IMEI:1", "--auth", "md5", "--username", "u", "--password", "p"])
            .contains("already exists")
    );
    assert!(fails(&url, &["device", "show", "IMEI:404"]).contains("not found"));
    assert!(
        fails(
            &url,
            &[
                "device",
                "add",
                "IMEI:3",
                "--auth",
                "md5",
                "--username",
                "u",
                "--password",
                "p",
                "--nonce",
                "%%"
            ]
        )
        .contains("nonce")
    );

    // Commands from flags and from JSON; show and list.
    let id = ok(&url, &["command", "add", "IMEI:1", "--op", "Get", "--target", "./DevDetail/SwV"]);
    let id: i64 = id.trim().parse().expect("the id alone");
    let c = json_of(&ok(&url, &["command", "show", "IMEI:1", &id.to_string(), "--json"]));
    assert_eq!(
        (c["op"].as_str(), c["target"].as_str(), c["state"].as_str()),
        (Some("Get"), Some("./DevDetail/SwV"), Some("queued"))
    );
    let human = ok(&url, &["command", "show", "IMEI:1", &id.to_string()]);
    assert!(human.contains(&format!("#{id} Get ./DevDetail/SwV")) && human.contains("queued"), "{human}");

    let spec = r#"{"op":"Sequence","commands":[{"op":"Alert","alert_code":1101,"texts":["MAXDT=30","Install?"]},{"op":"Exec","target":"./FUMO/Update"}]}"#;
    let seq: i64 = ok(&url, &["command", "add", "IMEI:1", "--json", spec]).trim().parse().unwrap();
    let c = json_of(&ok(&url, &["command", "show", "IMEI:1", &seq.to_string(), "--json"]));
    assert_eq!(c["commands"][0]["alert_code"], 1101);
    assert_eq!(c["commands"][1]["target"], "./FUMO/Update");
    let spec_file = dir.0.join("cmd.json");
    std::fs::write(&spec_file, r#"{"op":"Replace","target":"./Vendor/X","data":"7","format":"int"}"#)
        .unwrap();
    ok(&url, &["command", "add", "IMEI:1", "--json", &format!("@{}", spec_file.display())]);

    let list = ok(&url, &["command", "list", "IMEI:1"]);
    assert_eq!(list.lines().count(), 4, "{list}");
    assert!(list.contains("./Vendor/X") && list.contains("./DevDetail/SwV"), "{list}");
    let list = json_of(&ok(&url, &["command", "list", "IMEI:1", "--state", "queued", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 3);

    assert!(
        fails(
            &url,
            &[
                "command",
                "add",
                "IMEI:1",
                "--json",
                r#"{"op":"Atomic","commands":[{"op":"Get","target":"./A"}]}"#
            ]
        )
        .contains("Atomic")
    );
    assert!(fails(&url, &["command", "add", "IMEI:1", "--op", "Get", "--target", "DevInfo"]).contains("./"));
    assert!(
        fails(&url, &["command", "add", "IMEI:404", "--op", "Get", "--target", "./A"]).contains("not found")
    );
    assert!(fails(&url, &["command", "show", "IMEI:1", "999999"]).contains("not found"));

    // Alerts (none yet), sessions (none yet), delete.
    assert_eq!(json_of(&ok(&url, &["alerts", "--json"])), json!([]));
    assert!(ok(&url, &["alerts", "--device", "IMEI:1"]).starts_with("ID"));
    assert_eq!(json_of(&ok(&url, &["device", "sessions", "IMEI:1", "--json"])), json!([]));
    assert!(ok(&url, &["device", "rm", "IMEI:2"]).contains("deleted"));
    assert!(fails(&url, &["device", "rm", "IMEI:2"]).contains("not found"));

    // Everything was audited as the CLI, without secrets.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let audit = rt.block_on(async {
        let store = omadm_storage::Store::connect(&url).await.unwrap();
        let audit = store.list_audit(None, 100).await.unwrap();
        store.close().await;
        audit
    });
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "device.delete",
            "command.enqueue",
            "command.enqueue",
            "command.enqueue",
            "device.create",
            "device.create"
        ]
    );
    assert!(audit.iter().all(|e| e.actor == "cli"));
    let text = serde_json::to_string(&audit).unwrap();
    assert!(
        !text.contains("p-secret") && !text.contains("sp-secret") && !text.contains("bm9uY2U="),
        "{text}"
    );
}

#[test]
fn ddfs_from_the_command_line() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("omadm.db").display());
    let file = dir.0.join("acme-audio.xml");
    std::fs::write(
        &file,
        r#"<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>Acme</NodeName>
  <DFProperties><AccessType><Get/></AccessType><DFFormat><node/></DFFormat>
    <DFType><DDFName>urn:acme:mo:audio:1.0</DDFName></DFType></DFProperties></Node></MgmtTree>"#,
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let id = ok(&url, &["ddf", "import", path, "--mount", "./Vendor/Acme"]);
    let id: i64 = id.trim().parse().unwrap_or_else(|_| panic!("an id: {id:?}"));
    let table = ok(&url, &["ddf", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID"), "{table}");
    assert!(
        lines[1].starts_with(&format!("{id} "))
            && lines[1].contains("acme-audio")
            && lines[1].contains("./Vendor/Acme")
            && lines[1].contains("urn:acme:mo:audio:1.0"),
        "{table}"
    );
    let list = json_of(&ok(&url, &["ddf", "list", "--json"]));
    assert_eq!(list[0]["name"], "acme-audio", "named after the file");
    let err = fails(&url, &["ddf", "import", path, "--mount", "./Vendor/Acme"]);
    assert!(err.contains("already exists"), "{err}");
    let bad = dir.0.join("bad.xml");
    std::fs::write(&bad, "<MgmtTree><Node>").unwrap();
    let err = fails(&url, &["ddf", "import", bad.to_str().unwrap(), "--mount", "./X"]);
    assert!(err.contains("DDF document"), "{err}");
    ok(&url, &["ddf", "delete", &id.to_string()]);
    assert_eq!(json_of(&ok(&url, &["ddf", "list", "--json"])), json!([]));
    let err = fails(&url, &["ddf", "delete", &id.to_string()]);
    assert!(err.contains("not found"), "{err}");
}
