//! `did:web`: the web5-spec resolution vectors (`spec/vectors/external/web5-spec`, with their
//! provenance): every DID's document URL per the method's path rules, then each vector's
//! document served by a real HTTP server on 127.0.0.1 and resolved through the SDK's
//! `HttpSource`, with the hostile answers a host can give.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agentid_resolver::http::{HttpSource, MAX_RESOLUTION_BYTES};
use agentid_resolver::{ResolveError, Source};
use agentid_spec::id::did_web_document_url;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{json, Value};

fn vectors() -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/vectors/external/web5-spec/did_web/resolve.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap();
    v["vectors"].as_array().unwrap().clone()
}

/// Each vector's DID maps to the URL its mock server answers at; the error vectors map to
/// nothing, except `notFound`, whose host is well-formed and simply has no document.
#[test]
fn web5_did_web_vectors_map_to_their_urls() {
    let all = vectors();
    assert_eq!(all.len(), 6);
    for v in &all {
        let did = v["input"]["didUri"].as_str().unwrap();
        let mapped = did_web_document_url(did);
        match v["output"]["didResolutionMetadata"]["error"].as_str() {
            None => {
                let urls: Vec<&String> = v["input"]["mockServer"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .collect();
                assert_eq!(mapped.as_ref(), Some(urls[0]), "{did}");
            }
            Some("notFound") => assert_eq!(
                mapped.as_deref(),
                Some("https://doesnotexist.com/.well-known/did.json")
            ),
            Some(code @ ("methodNotSupported" | "invalidDid")) => {
                assert_eq!(mapped, None, "{did}: {code}")
            }
            Some(other) => panic!("unexpected vector error {other}"),
        }
    }
}

/// The documents a loopback host serves, by path.
type Site = Arc<HashMap<String, (StatusCode, Vec<u8>)>>;

async fn serve(site: Site, uri: Uri) -> impl IntoResponse {
    match site.get(uri.path()) {
        Some((status, body)) => (
            *status,
            [("content-type", "application/did+json")],
            body.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The vectors' documents, each under the loopback form of its DID (the same path, the host
/// replaced by `127.0.0.1%3A<port>`, reached over plain HTTP as loopback hosts are), resolve
/// to that DID's document; a host answering 404, a document for another DID, a body over the
/// limit and a path with `..` are refused with their errors.
#[tokio::test]
async fn did_web_documents_resolve_from_a_loopback_host() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let host = format!("did:web:127.0.0.1%3A{port}");
    let mut site = HashMap::new();
    let mut expected = Vec::new();
    for v in vectors() {
        let Some(server) = v["input"]["mockServer"].as_object() else {
            continue;
        };
        let did = v["input"]["didUri"].as_str().unwrap();
        // The DID's path segments after its host (and port).
        let segments: Vec<&str> = did["did:web:".len()..].split(':').skip(1).collect();
        let local = std::iter::once(host.as_str())
            .chain(segments.iter().copied())
            .collect::<Vec<_>>()
            .join(":");
        let url = did_web_document_url(&local).unwrap();
        let path = url.split_once(&format!("127.0.0.1:{port}")).unwrap().1;
        let (_, document) = server.iter().next().unwrap();
        let mut document = document.clone();
        document["id"] = json!(local);
        site.insert(
            path.to_owned(),
            (StatusCode::OK, serde_json::to_vec(&document).unwrap()),
        );
        expected.push(local);
    }
    assert_eq!(expected.len(), 3);
    let other = json!({ "id": "did:web:example.com" });
    site.insert(
        "/impostor/did.json".into(),
        (StatusCode::OK, serde_json::to_vec(&other).unwrap()),
    );
    let big = json!({ "id": format!("{host}:big"), "pad": "x".repeat(MAX_RESOLUTION_BYTES) });
    site.insert(
        "/big/did.json".into(),
        (StatusCode::OK, serde_json::to_vec(&big).unwrap()),
    );
    site.insert(
        "/broken/did.json".into(),
        (StatusCode::INTERNAL_SERVER_ERROR, Vec::new()),
    );
    let site: Site = Arc::new(site);
    let app = axum::Router::new().fallback(move |uri: Uri| serve(site.clone(), uri));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let source = HttpSource::new("http://127.0.0.1:9", Duration::from_secs(2)).unwrap();
    for did in &expected {
        let result = source
            .resolve(did)
            .await
            .unwrap_or_else(|e| panic!("{did}: {e}"));
        assert_eq!(result.did_document.unwrap().id, *did);
    }
    let nobody = format!("{host}:nobody");
    assert_eq!(source.resolve(&nobody).await, Err(ResolveError::NotFound));
    assert!(matches!(
        source.resolve(&format!("{host}:impostor")).await,
        Err(ResolveError::InvalidResponse(m)) if m.contains("another DID")
    ));
    assert!(matches!(
        source.resolve(&format!("{host}:big")).await,
        Err(ResolveError::InvalidResponse(m)) if m.contains("over")
    ));
    assert!(matches!(
        source.resolve(&format!("{host}:broken")).await,
        Err(ResolveError::Unreachable(_))
    ));
    assert!(matches!(
        source.resolve(&format!("{host}:..:etc")).await,
        Err(ResolveError::InvalidDid(_))
    ));
}
