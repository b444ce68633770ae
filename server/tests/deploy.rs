//! The deployment files in `deploy/` stay true to the server: the example configuration loads
//! with the real loader and names every key the loader knows; every YAML file parses (and the
//! Kubernetes objects are the ones the README promises, probing the routes the server has); the
//! Dockerfile runs as non-root with a health check; the systemd unit passes
//! `systemd-analyze verify` when that tool is on the machine.

use std::path::{Path, PathBuf};

use omadm_server::config::{FileConfig, LogFormat, Overrides};
use yaml_rust2::YamlLoader;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

#[test]
fn example_configuration_loads_and_documents_every_key() {
    let path = deploy().join("omadm.example.toml");
    let file = FileConfig::load(&path).unwrap();
    assert!(file.delivery.smpp.is_some() && file.delivery.pap.is_some());
    let config = Overrides { config: Some(path.clone()), ..Overrides::default() }.resolve().unwrap();
    assert_eq!(config.log_format, LogFormat::Json);
    assert!(config.tls.is_some() && config.metrics_token.is_some());
    // Every key of the loader appears, set or commented out (tls_client_ca, PAP credentials).
    let text = std::fs::read_to_string(&path).unwrap();
    let keys = [
        "listen",
        "database_url",
        "server_id",
        "admin_token",
        "public_url",
        "tls_cert",
        "tls_key",
        "tls_client_ca",
        "metrics_token",
        "log_format",
        "max_msg_size",
        "max_obj_size",
        "session_idle_timeout_secs",
        "push_retry_first_secs",
        "push_retry_max_secs",
        "[notification]",
        "retries",
        "interval_secs",
        "jitter_pct",
        "fallback_retries",
        "fallback_interval_secs",
        "give_up_secs",
        "max_outstanding",
        "[delivery.smpp]",
        "address",
        "system_id",
        "password",
        "system_type",
        "service_type",
        "source_addr",
        "source_addr_ton",
        "source_addr_npi",
        "dest_addr_ton",
        "dest_addr_npi",
        "registered_delivery",
        "window",
        "submits_per_second",
        "enquire_link_interval_secs",
        "response_timeout_ms",
        "connect_timeout_ms",
        "reconnect_min_ms",
        "reconnect_max_ms",
        "throttle_pause_ms",
        "max_submit_attempts",
        "[delivery.pap]",
        "url",
        "ppg_host",
        "username",
        "ca_file",
        "timeout_ms",
        "max_response_bytes",
        "network",
        "bearer",
    ];
    for k in keys {
        let documented = text.lines().any(|l| {
            let l = l.trim_start_matches("# ").trim();
            l == k || l.starts_with(&format!("{k} ="))
        });
        assert!(documented, "{k} is not in deploy/omadm.example.toml");
    }
    // The file is strict: a misspelt key is refused, so the example cannot drift silently.
    let bogus = std::env::temp_dir().join(format!("omadm-deploy-{}.toml", std::process::id()));
    std::fs::write(&bogus, text.replace("log_format =", "log_fromat =")).unwrap();
    assert!(FileConfig::load(&bogus).is_err());
    let _ = std::fs::remove_file(&bogus);
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

#[test]
fn every_yaml_parses_and_kubernetes_has_what_the_readme_says() {
    let mut files = Vec::new();
    yaml_files(&deploy(), &mut files);
    assert!(files.len() >= 8, "{files:?}");
    let mut kinds = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(!docs.is_empty(), "{} is empty", f.display());
        for d in docs {
            if let Some(kind) = d["kind"].as_str() {
                kinds.push((kind.to_owned(), d));
            }
        }
    }
    let find = |k: &str| {
        kinds.iter().find(|(kind, _)| kind == k).map(|(_, d)| d).unwrap_or_else(|| panic!("no {k}"))
    };
    for k in ["Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "Job", "Kustomization"] {
        find(k);
    }
    let pod = &find("Deployment")["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["readinessProbe"]["httpGet"]["path"].as_str(), Some("/readyz"));
    assert_eq!(c["livenessProbe"]["httpGet"]["path"].as_str(), Some("/healthz"));
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let job = &find("Job")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(job["args"][0].as_str(), Some("migrate"));
    // The ConfigMap's TOML is a valid configuration file.
    let toml = find("ConfigMap")["data"]["omadm.toml"].as_str().unwrap();
    let parsed: FileConfig = toml::from_str(toml).unwrap();
    assert!(parsed.admin_token.is_none() && parsed.database_url.is_none(), "secrets belong in the Secret");
    // Compose: omadm and PostgreSQL.
    let compose = files.iter().find(|f| f.ends_with("compose.yaml")).unwrap();
    let compose = &YamlLoader::load_from_str(&std::fs::read_to_string(compose).unwrap()).unwrap()[0];
    assert!(compose["services"]["postgres"]["image"].as_str().unwrap().starts_with("postgres:"));
    let url = compose["services"]["omadm"]["environment"]["OMADM_DATABASE_URL"].as_str().unwrap();
    assert!(url.starts_with("postgres://"), "{url}");
}

#[test]
fn dockerfile_is_multi_stage_non_root_with_a_healthcheck() {
    let text = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(lines.iter().filter(|l| l.starts_with("FROM ")).count() >= 2, "multi-stage");
    let user = lines.iter().find(|l| l.starts_with("USER ")).expect("a USER line");
    assert!(!user.contains("root") && !user.ends_with(" 0") && !user.contains(" 0:"), "{user}");
    let hc = text.find("HEALTHCHECK").expect("a HEALTHCHECK");
    assert!(text[hc..].contains("/healthz"));
    assert!(lines.iter().any(|l| l.starts_with("CMD") && l.contains("serve")));
}

#[test]
fn systemd_unit_verifies() {
    let unit = std::fs::read_to_string(deploy().join("systemd/omadm.service")).unwrap();
    for k in ["DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=omadm", "Restart=on-failure"] {
        assert!(unit.lines().any(|l| l == k), "{k}");
    }
    let Ok(out) = std::process::Command::new("systemd-analyze").arg("--version").output() else {
        assert!(std::env::var_os("CI").is_none(), "CI is set but systemd-analyze is missing");
        eprintln!("systemd-analyze not installed: unit not verified");
        return;
    };
    assert!(out.status.success());
    // The unit names the installed binary; point it at the one cargo built.
    let dir = std::env::temp_dir().join(format!("omadm-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("omadm.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/omadm", env!("CARGO_BIN_EXE_omadm"))).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("omadm.service"), "systemd-analyze verify:\n{stderr}");
}
