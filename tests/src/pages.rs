//! The static server for browser tests: `tests/pages/` (or the demo shop)
//! from `http://localhost:PORT`, with `{{NAME}}` placeholders filled in and
//! files served from memory in place of those on disk (see `browser`'s docs).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// `tests/pages/`: the test pages [`PageServer::start`] serves.
pub fn test_pages_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pages")
}

/// `web-demo/site/`: the demo shop.
pub fn demo_site_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-demo/site")
}

/// Serves a directory (by default `tests/pages/`) on `127.0.0.1:0`,
/// addressed as `http://localhost:PORT`.
pub struct PageServer {
    /// `http://localhost:PORT`: the origin the test site allows.
    pub origin: String,
    /// The port, also reachable as `http://127.0.0.1:PORT` (another site).
    pub port: u16,
    /// The directory served.
    pub dir: PathBuf,
    vars: Arc<RwLock<Vec<(String, String)>>>,
    files: Arc<RwLock<HashMap<String, Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Pages {
    dir: PathBuf,
    vars: Arc<RwLock<Vec<(String, String)>>>,
    files: Arc<RwLock<HashMap<String, Vec<u8>>>>,
}

impl PageServer {
    /// Starts serving `tests/pages/`; set `COLLECTOR` and `SITE` before the first page load.
    pub async fn start() -> Self {
        Self::start_in(test_pages_dir()).await
    }

    /// Starts serving `dir`; set `COLLECTOR` and `SITE` before the first page load.
    pub async fn start_in(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        assert!(dir.is_dir(), "{} is not a directory", dir.display());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let vars = Arc::new(RwLock::new(Vec::new()));
        let files = Arc::new(RwLock::new(HashMap::new()));
        let pages = Pages { dir: dir.clone(), vars: vars.clone(), files: files.clone() };
        let app = axum::Router::new().fallback(serve_page).with_state(pages);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { origin: format!("http://localhost:{port}"), port, dir, vars, files, task }
    }

    /// Serves `bytes` at `path` (e.g. `/inbox.json`) from now on, in place
    /// of any file there on disk. HTML put here gets `{{NAME}}`s filled too.
    pub fn put(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.files.write().unwrap().insert(path.trim_start_matches('/').to_string(), bytes.into());
    }

    /// Sets `{{name}}` in every page served from now on.
    pub fn set(&self, name: &str, value: &str) {
        let mut v = self.vars.write().unwrap();
        v.retain(|(k, _)| k != name);
        v.push((name.to_string(), value.to_string()));
    }

    /// A page on the test site's origin.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.origin)
    }

    /// The same server under another host name: another site for the page.
    pub fn other_site_url(&self, path_and_query: &str) -> String {
        format!("http://127.0.0.1:{}{path_and_query}", self.port)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_page(
    axum::extract::State(p): axum::extract::State<Pages>,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    if path.split('/').any(|s| s == ".." || s.starts_with('.')) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let in_memory = p.files.read().unwrap().get(path).cloned();
    let bytes = match in_memory {
        Some(b) => b,
        None => match tokio::fs::read(p.dir.join(path)).await {
            Ok(b) => b,
            Err(_) => return (StatusCode::NOT_FOUND, "no such test page").into_response(),
        },
    };
    let ext = path.rsplit('.').next().unwrap_or("");
    let ty = match ext {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript",
        "css" => "text/css",
        "webm" => "video/webm",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        _ => "application/octet-stream",
    };
    let body = if ext == "html" {
        let mut s = String::from_utf8_lossy(&bytes).into_owned();
        for (k, v) in p.vars.read().unwrap().iter() {
            s = s.replace(&format!("{{{{{k}}}}}"), v);
        }
        s.into_bytes()
    } else {
        bytes
    };
    ([(header::CONTENT_TYPE, ty), (header::CACHE_CONTROL, "no-store")], body).into_response()
}
