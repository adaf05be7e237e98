//! WebDAV plumbing shared by the `caldav` and `carddav` connectors: a namespace-aware XML
//! reader (quick-xml's `NsReader`; servers pick arbitrary prefixes), `multistatus` parsing, and
//! requests with the HTTP status mapped onto [`ErrorKind`]s.

use std::sync::Arc;

use ctx_connector_api::{ConnectorError, ErrorKind};
use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use reqwest::{Method, StatusCode, Url};

pub const NS_DAV: &str = "DAV:";
pub const NS_CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
pub const NS_CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";

/// Where a password comes from; called once per pass, the value is never logged.
pub type PasswordSource = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// One XML element: namespace URI, local name, unqualified attributes, text and children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// The trimmed text of the first child `ns:name`.
    pub fn child_text(&self, ns: &str, name: &str) -> Option<String> {
        self.child(ns, name).map(|c| c.text.trim().to_owned())
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn element(ns: ResolveResult<'_>, start: &BytesStart<'_>) -> Element {
    let ns = match ns {
        ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
        _ => String::new(),
    };
    let attrs = start
        .attributes()
        .flatten()
        .map(|a| {
            (
                String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
                a.unescape_value()
                    .map(|v| v.into_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    Element {
        ns,
        name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
        attrs,
        ..Element::default()
    }
}

/// Parses an XML document into its root element, namespace-resolved.
pub fn parse_xml(text: &str) -> Result<Element, String> {
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|e| e.to_string())?;
        match event {
            Event::Start(start) => stack.push(element(ns, &start)),
            Event::Empty(start) => {
                let el = element(ns, &start);
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(el);
                }
            }
            Event::End(_) => {
                if stack.len() > 1
                    && let Some(el) = stack.pop()
                    && let Some(parent) = stack.last_mut()
                {
                    parent.children.push(el);
                }
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| e.to_string())?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                }
            }
            Event::CData(t) => {
                let text = t.decode().map_err(|e| e.to_string())?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| e.to_string())?
                        .map(String::from)
                } else {
                    let name = r.decode().map_err(|e| e.to_string())?;
                    match name.as_ref() {
                        "amp" => Some("&".into()),
                        "lt" => Some("<".into()),
                        "gt" => Some(">".into()),
                        "quot" => Some("\"".into()),
                        "apos" => Some("'".into()),
                        _ => None,
                    }
                };
                if let (Some(s), Some(top)) = (resolved, stack.last_mut()) {
                    top.text.push_str(&s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    while stack.len() > 1 {
        if let Some(el) = stack.pop()
            && let Some(parent) = stack.last_mut()
        {
            parent.children.push(el);
        }
    }
    stack
        .pop()
        .and_then(|root| root.children.into_iter().next())
        .ok_or_else(|| "empty XML document".to_owned())
}

/// Escapes text for an XML element body.
pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One `DAV:response` of a multistatus.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DavResponse {
    /// The href resolved against the request URL: an absolute path (the key used everywhere).
    pub href: String,
    /// The response-level status (`404` for a deleted member in `sync-collection`).
    pub status: Option<u16>,
    /// The properties of the successful (2xx) `propstat`s.
    pub props: Vec<Element>,
}

impl DavResponse {
    pub fn prop(&self, ns: &str, name: &str) -> Option<&Element> {
        self.props.iter().find(|p| p.is(ns, name))
    }

    /// Whether the resource is a collection (`resourcetype` holds `DAV:collection`).
    pub fn is_collection(&self) -> bool {
        self.prop(NS_DAV, "resourcetype")
            .is_some_and(|rt| rt.child(NS_DAV, "collection").is_some())
    }

    pub fn etag(&self) -> Option<String> {
        self.prop(NS_DAV, "getetag")
            .map(|e| e.text.trim().to_owned())
            .filter(|e| !e.is_empty())
    }

    /// The hrefs inside property `ns:name` (`current-user-principal`, `calendar-home-set`...).
    pub fn prop_hrefs(&self, ns: &str, name: &str, base: &Url) -> Vec<String> {
        self.prop(ns, name)
            .map(|p| {
                p.children_named(NS_DAV, "href")
                    .filter_map(|h| resolve_href(base, &h.text))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A parsed `DAV:multistatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultiStatus {
    pub responses: Vec<DavResponse>,
    pub sync_token: Option<String>,
}

/// `HTTP/1.1 404 Not Found` → 404.
fn status_code(line: &str) -> Option<u16> {
    line.split_whitespace().nth(1)?.parse().ok()
}

/// An href (absolute URL or path, relative or not) → the absolute path on `base`'s server.
pub fn resolve_href(base: &Url, href: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    base.join(href).ok().map(|u| u.path().to_owned())
}

pub fn parse_multistatus(text: &str, base: &Url) -> Result<MultiStatus, String> {
    let root = parse_xml(text)?;
    if !root.is(NS_DAV, "multistatus") {
        return Err(format!(
            "expected DAV:multistatus, got {}:{}",
            root.ns, root.name
        ));
    }
    let mut out = MultiStatus {
        sync_token: root
            .child_text(NS_DAV, "sync-token")
            .filter(|t| !t.is_empty()),
        responses: Vec::new(),
    };
    for response in root.children_named(NS_DAV, "response") {
        let Some(href) = response
            .child(NS_DAV, "href")
            .and_then(|h| resolve_href(base, &h.text))
        else {
            continue;
        };
        let status = response
            .child_text(NS_DAV, "status")
            .and_then(|s| status_code(&s));
        let mut props = Vec::new();
        for propstat in response.children_named(NS_DAV, "propstat") {
            let ok = propstat
                .child_text(NS_DAV, "status")
                .and_then(|s| status_code(&s))
                .is_none_or(|code| (200..300).contains(&code));
            if ok && let Some(prop) = propstat.child(NS_DAV, "prop") {
                props.extend(prop.children.iter().cloned());
            }
        }
        out.responses.push(DavResponse {
            href,
            status,
            props,
        });
    }
    Ok(out)
}

/// Credentials for one pass (resolved from the [`PasswordSource`] when the pass starts).
#[derive(Clone, Default)]
pub struct Auth {
    pub user: Option<String>,
    pub password: Option<String>,
}

/// Sends a WebDAV request; returns the status and body, with transport failures, `401`, `5xx`
/// and `429` already turned into errors. Other statuses are the caller's to judge.
pub async fn send(
    http: &reqwest::Client,
    auth: &Auth,
    method: &str,
    url: &Url,
    depth: Option<&str>,
    body: String,
) -> Result<(StatusCode, String), ConnectorError> {
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|e| ConnectorError::permanent(format!("bad HTTP method {method}: {e}")))?;
    let mut request = http
        .request(method.clone(), url.clone())
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/xml; charset=utf-8",
        )
        .body(body);
    if let Some(depth) = depth {
        request = request.header("Depth", depth);
    }
    if let Some(user) = &auth.user {
        request = request.basic_auth(user, auth.password.as_deref());
    }
    let response = request.send().await.map_err(|e| {
        ConnectorError::transient(format!("{method} {url} failed: {e}")).with_source(e)
    })?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs);
    let text = response.text().await.map_err(|e| {
        ConnectorError::transient(format!("reading the answer to {method} {url} failed: {e}"))
            .with_source(e)
    })?;
    if status == StatusCode::UNAUTHORIZED {
        return Err(ConnectorError::new(
            ErrorKind::Auth,
            format!("{url} rejected the credentials (HTTP 401); check `user` and the password"),
        ));
    }
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        let mut e = ConnectorError::transient(format!("{method} {url}: HTTP {status}"));
        if let Some(after) = retry_after {
            e = e.with_retry_after(after);
        }
        return Err(e);
    }
    Ok((status, text))
}

/// A `207`/`200` answer parsed as a multistatus; other statuses become errors.
pub fn expect_multistatus(
    what: &str,
    url: &Url,
    status: StatusCode,
    body: &str,
) -> Result<MultiStatus, ConnectorError> {
    if status == StatusCode::NOT_FOUND {
        return Err(ConnectorError::config(format!(
            "{what}: {url} does not exist (HTTP 404); check `url`"
        )));
    }
    if !status.is_success() {
        return Err(ConnectorError::permanent(format!(
            "{what}: {url} answered HTTP {status}"
        )));
    }
    parse_multistatus(body, url).map_err(|e| {
        ConnectorError::transient(format!("{what}: unreadable answer from {url}: {e}"))
    })
}

/// Whether an error body carries the `DAV:valid-sync-token` precondition (RFC 6578 §3.2).
pub fn is_invalid_sync_token(body: &str) -> bool {
    parse_xml(body).is_ok_and(|root| {
        root.is(NS_DAV, "error") && root.child(NS_DAV, "valid-sync-token").is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistatus_with_arbitrary_prefixes() {
        let xml = r#"<?xml version="1.0"?>
<x:multistatus xmlns:x="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav">
 <x:response><x:href>/dav/cal/a%20b.ics</x:href>
  <x:propstat><x:prop><x:getetag>"1"</x:getetag><cal:calendar-data>BEGIN:VCALENDAR&#13;
A&amp;B</cal:calendar-data></x:prop><x:status>HTTP/1.1 200 OK</x:status></x:propstat>
  <x:propstat><x:prop><x:displayname/></x:prop><x:status>HTTP/1.1 404 Not Found</x:status></x:propstat>
 </x:response>
 <response xmlns="DAV:"><href>http://h/dav/cal/gone.ics</href><status>HTTP/1.1 404 Not Found</status></response>
 <x:sync-token>tok-2</x:sync-token>
</x:multistatus>"#;
        let base = Url::parse("http://h/dav/cal/").unwrap();
        let ms = parse_multistatus(xml, &base).unwrap();
        assert_eq!(ms.sync_token.as_deref(), Some("tok-2"));
        assert_eq!(ms.responses.len(), 2);
        let a = &ms.responses[0];
        assert_eq!(a.href, "/dav/cal/a%20b.ics");
        assert_eq!(a.etag().as_deref(), Some("\"1\""));
        assert_eq!(
            a.prop(NS_CALDAV, "calendar-data").unwrap().text,
            "BEGIN:VCALENDAR\r\nA&B"
        );
        assert!(a.prop(NS_DAV, "displayname").is_none());
        assert_eq!(ms.responses[1].href, "/dav/cal/gone.ics");
        assert_eq!(ms.responses[1].status, Some(404));
    }

    #[test]
    fn sync_token_precondition() {
        assert!(is_invalid_sync_token(
            "<?xml version='1.0'?><error xmlns=\"DAV:\"><valid-sync-token /></error>"
        ));
        assert!(!is_invalid_sync_token("<html>no</html>"));
    }
}
