//! Firmware packages: upload (the admin API's raw body), storage on disk with its SHA-256,
//! and the download devices make (`GET /firmware/{id}/{name}`, no admin token) with HTTP
//! Range requests (RFC 9110 §14) so that an interrupted download resumes.

use std::io::SeekFrom;
use std::path::Path;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omadm_storage::{FirmwarePackage, Store};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::admin::AdminError;
use crate::app::{App, now_millis, random_token};

/// The largest upload body the API reads (the configured `max_firmware_bytes` applies too).
pub const MAX_UPLOAD: usize = 1 << 30;

/// Metadata given with an upload (query parameters of `POST /api/v1/firmware`).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadFirmware {
    /// File name (letters, digits, `.-_`), part of the download URL.
    pub name: String,
    /// The version it installs (`./DevDetail/FwV` afterwards).
    pub version: String,
    /// Target `./DevInfo/Man`.
    pub man: Option<String>,
    /// Target `./DevInfo/Mod`.
    #[serde(rename = "mod")]
    pub model: Option<String>,
    /// The `./DevDetail/FwV` it updates from.
    pub fwv: Option<String>,
}

fn invalid(m: impl Into<String>) -> AdminError {
    AdminError::Invalid(m.into())
}

/// Whether a name is safe as a file name and a URL segment.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Store an uploaded package: written to `dir` (a temporary name, then renamed, so a crash
/// never leaves a half file under a stored path), then recorded. Audited as `firmware.upload`.
pub async fn upload(
    store: &Store,
    dir: &Path,
    max_bytes: u64,
    meta: UploadFirmware,
    body: &[u8],
    actor: &str,
) -> Result<FirmwarePackage, AdminError> {
    if !valid_name(&meta.name) {
        return Err(invalid("name: 1-128 letters, digits, '.', '-', '_', not starting with '.'"));
    }
    if meta.version.is_empty() || meta.version.len() > 128 {
        return Err(invalid("version: 1-128 bytes"));
    }
    for v in [&meta.man, &meta.model, &meta.fwv].into_iter().flatten() {
        if v.len() > 256 {
            return Err(invalid("man, mod, fwv: at most 256 bytes"));
        }
    }
    if body.is_empty() {
        return Err(invalid("the body (the package) is empty"));
    }
    if body.len() as u64 > max_bytes {
        return Err(AdminError::TooLarge(format!("a firmware package is at most {max_bytes} bytes")));
    }
    let sha256 = sha256_hex(body);
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| invalid(format!("cannot create {}: {e}", dir.display())))?;
    let file = dir.join(format!("{}-{}", random_token(), meta.name));
    let tmp = file.with_extension("part");
    tokio::fs::write(&tmp, body).await.map_err(|e| invalid(format!("cannot write the package: {e}")))?;
    tokio::fs::rename(&tmp, &file).await.map_err(|e| invalid(format!("cannot store the package: {e}")))?;
    let now = now_millis();
    let mut p = FirmwarePackage {
        id: 0,
        name: meta.name,
        version: meta.version,
        man: meta.man,
        model: meta.model,
        fwv: meta.fwv,
        size: body.len() as i64,
        sha256,
        path: file.to_string_lossy().into_owned(),
        created_at: now,
    };
    let mut tx = store.begin().await?;
    p.id = tx.create_firmware(&p).await?;
    let detail =
        serde_json::json!({ "firmware_id": p.id, "name": p.name, "version": p.version, "sha256": p.sha256 });
    tx.audit(actor, "firmware.upload", None, &detail, now).await?;
    tx.commit().await?;
    Ok(p)
}

/// The URL a device downloads `p` from.
pub fn download_url(base: &str, p: &FirmwarePackage) -> String {
    format!("{}/firmware/{}/{}", base.trim_end_matches('/'), p.id, p.name)
}

/// A `Range: bytes=...` header against a file of `size` bytes (one range; RFC 9110 §14.1.2):
/// `Ok(None)` the whole file, `Ok(Some((first, last)))` inclusive, `Err(())` unsatisfiable.
#[allow(clippy::result_unit_err)]
pub fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        // Several ranges: served whole (allowed: a server may ignore Range).
        return Ok(None);
    }
    let (a, b) = spec.trim().split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    if size == 0 {
        return Err(());
    }
    if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        return Ok(Some((size.saturating_sub(n), size - 1)));
    }
    let first: u64 = a.parse().map_err(|_| ())?;
    if first >= size {
        return Err(());
    }
    let last = if b.is_empty() { size - 1 } else { b.parse::<u64>().map_err(|_| ())?.min(size - 1) };
    if last < first {
        return Err(());
    }
    Ok(Some((first, last)))
}

/// `GET /firmware/{id}/{name}`: the package, whole (200) or one range (206; 416 when out of
/// bounds). No admin token: devices fetch it.
pub async fn download(
    State(app): State<App>,
    UrlPath((id, name)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "no such firmware package").into_response();
    let Ok(id) = id.parse::<i64>() else { return not_found() };
    let p = match app.store.get_firmware(id).await {
        Ok(Some(p)) if p.name == name => p,
        Ok(_) => return not_found(),
        Err(e) => {
            tracing::warn!(error = %e, "firmware download: database error");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let Ok(mut file) = tokio::fs::File::open(&p.path).await else { return not_found() };
    let size = p.size as u64;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(|v| parse_range(v, size));
    let etag = format!("\"{}\"", p.sha256);
    let mut h = HeaderMap::new();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    let (status, first, len) = match range {
        None | Some(Ok(None)) => (StatusCode::OK, 0, size),
        Some(Ok(Some((a, b)))) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{size}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, a, b - a + 1)
        }
        Some(Err(())) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            return (StatusCode::RANGE_NOT_SATISFIABLE, h).into_response();
        }
    };
    if file.seek(SeekFrom::Start(first)).await.is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    // Streamed in 64 KiB chunks: a package is never held whole in memory.
    let (mut tx, body) = http_body_util::channel::Channel::<bytes::Bytes, std::io::Error>::new(4);
    let mut reader = file.take(len);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    if tx.send_data(bytes::Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tx.abort(e);
                    break;
                }
            }
        }
    });
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    (status, h, Body::new(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ok(Some((0, 99))));
        assert_eq!(parse_range("bytes=900-", 1000), Ok(Some((900, 999))));
        assert_eq!(parse_range("bytes=-100", 1000), Ok(Some((900, 999))));
        assert_eq!(parse_range("bytes=990-5000", 1000), Ok(Some((990, 999))));
        assert_eq!(parse_range("bytes=1000-", 1000), Err(()));
        assert_eq!(parse_range("bytes=5-2", 1000), Err(()));
        assert_eq!(parse_range("bytes=-0", 1000), Err(()));
        assert_eq!(parse_range("bytes=x-", 1000), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Ok(None));
        assert_eq!(parse_range("items=0-1", 1000), Ok(None));
    }

    #[test]
    fn names_and_digest() {
        assert!(
            valid_name("fw-8.bin") && !valid_name("../x") && !valid_name(".hidden") && !valid_name("a/b")
        );
        // FIPS 180-2 example: SHA-256("abc").
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
