//! Reading many issues of one JQL search fast against a Jira that is far away: several
//! requests in flight, each paced by the connection's limiter, handed to the caller in search
//! order with the cursor that resumes after each batch.
//!
//! - Cloud: the search (`/rest/api/3/search/jql`) is asked for ids only, which Jira pages up to
//!   [`IDS_PER_PAGE`] at a time, and the issues come from `POST /rest/api/3/issue/bulkfetch`,
//!   [`ISSUES_PER_FETCH`] ids per call. The next id page is read while the bulk fetches of the
//!   current one run.
//! - Data Center: the first `startAt` page says `total`; the other pages are then asked for at
//!   once (their offsets are known), and a tail is read page by page in case the result grew.
//!
//! ```text
//!  producer task ── spawns fetch tasks (≤ in_flight) ──▶ bounded channel, in search order ──▶ next()
//! ```
//! Memory is bounded by the channel: at most `in_flight` batches exist (fetching or fetched and
//! not yet taken) plus one id page. Batches come out in search order, each with the cursor that
//! resumes right after it, so a caller that stores the cursor of the last batch it finished
//! never skips an issue, whatever was in flight when it stopped. Dropping the reader aborts
//! everything still running.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::client::{Call, Idempotency, JiraClient};
use super::config::Deployment;
use super::error::JiraError;
use super::search::{SearchCursor, SearchPager};
use super::types::Issue;

/// Ids per page of an ids-only Cloud search: the most Jira returns when only ids are asked for.
pub const IDS_PER_PAGE: u32 = 5000;
/// Issues per `bulkfetch` call: Jira's limit.
pub const ISSUES_PER_FETCH: usize = 100;
/// Batches in flight by default. At 300 ms per request, 16 in flight allow 53 requests per
/// second, more than a typical `requestsPerSecond`: the limiter, not the window, sets the pace.
pub const DEFAULT_IN_FLIGHT: usize = 16;

/// What to read: the search and the shape of each issue.
#[derive(Debug, Clone)]
pub struct BulkRead {
    pub jql: String,
    /// Field selection for each issue (Jira's syntax: `*navigable`, `*all`, names, ids).
    pub fields: Vec<String>,
    /// Ask for each issue's changelog too.
    pub changelog: bool,
    /// Read the rest of the comments of issues with more than Jira embeds (see
    /// [`JiraClient::complete_comments`]), within the batch's own task.
    pub complete_comments: bool,
    /// Batches fetching or fetched at once (at least 1).
    pub in_flight: usize,
    /// Issues per Data Center page (Cloud fetches [`ISSUES_PER_FETCH`]).
    pub page_size: u32,
    /// Fields whose value is another issue's key (Data Center's Epic Link): the ids of those
    /// issues are looked up in the batch's own task, one request per batch, into
    /// [`Batch::key_ids`], so the caller needs no read per issue.
    pub key_fields: Vec<String>,
    /// Entity properties to return with each issue (the engine asks for its item property).
    pub properties: Vec<String>,
    /// Keys and ids of the issues this read has returned so far (with the keys it looked up),
    /// shared by its batches: a key field naming an issue read earlier costs no lookup. In an
    /// import in key order an Epic Link names an earlier issue, so at 100,000 issues this
    /// saves nearly every lookup (each of which makes Jira evaluate `key in (…)`).
    known_keys: KnownKeys,
}

/// Issue key → id, shared by a read's batches; bounded by [`KNOWN_KEYS`].
#[derive(Debug, Clone, Default)]
struct KnownKeys(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>);

/// Keys a read remembers (about 100 bytes each, so some 20 MiB at most); past it the map
/// starts again: a key forgotten costs a lookup, never a wrong id.
const KNOWN_KEYS: usize = 200_000;

impl KnownKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, pairs: impl IntoIterator<Item = (String, String)>) {
        let mut known = self.lock();
        for (k, v) in pairs {
            if known.len() >= KNOWN_KEYS {
                known.clear();
            }
            known.insert(k, v);
        }
    }
}

impl BulkRead {
    pub fn new(jql: impl Into<String>, fields: &[&str]) -> BulkRead {
        BulkRead {
            jql: jql.into(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            changelog: false,
            complete_comments: false,
            in_flight: DEFAULT_IN_FLIGHT,
            page_size: ISSUES_PER_FETCH as u32,
            key_fields: Vec::new(),
            properties: Vec::new(),
            known_keys: KnownKeys::default(),
        }
    }
}

/// Issues of the search, in search order, and where the search resumes after them.
#[derive(Debug, Default)]
pub struct Batch {
    pub issues: Vec<Issue>,
    /// Resume here once this batch and every earlier one is done.
    pub after: Option<SearchCursor>,
    /// How many the search matches, when Jira says (Data Center).
    pub total: Option<u64>,
    /// Issues Jira could not return this time (Cloud's `issueErrors`: id or key, message),
    /// after one more try.
    pub errors: Vec<(String, String)>,
    /// Issue key → id for the keys named in [`BulkRead::key_fields`] (and the batch's own).
    pub key_ids: std::collections::HashMap<String, String>,
}

/// A running bulk read; see the module docs.
pub struct IssueBatches {
    rx: mpsc::Receiver<Task<Result<Batch, JiraError>>>,
    /// The batch being waited for, kept across a cancelled [`IssueBatches::next`].
    current: Option<Task<Result<Batch, JiraError>>>,
    /// Awaited once the channel closes, so a panic there is not taken for the end of the search.
    producer: Option<Task<()>>,
}

impl IssueBatches {
    /// The next batch in search order; `None` after the last one (or after an error).
    /// Cancel-safe: a call dropped while waiting loses nothing, the next call goes on waiting.
    pub async fn next(&mut self) -> Option<Result<Batch, JiraError>> {
        if self.current.is_none() {
            match self.rx.recv().await {
                Some(task) => self.current = Some(task),
                None => {
                    if let Some(producer) = self.producer.as_mut() {
                        producer.await;
                        self.producer = None;
                    }
                    return None;
                }
            }
        }
        let task = self.current.as_mut()?;
        let batch = task.await;
        self.current = None;
        Some(batch)
    }
}

impl JiraClient {
    /// Starts reading every issue of `read.jql` from `cursor` on (see the module docs).
    pub fn read_bulk(&self, read: BulkRead, cursor: SearchCursor) -> IssueBatches {
        let in_flight = read.in_flight.max(1);
        // The batch being awaited by the caller and the one the producer holds are in flight
        // too: the channel holds the rest.
        let (tx, rx) = mpsc::channel(in_flight.saturating_sub(1).max(1));
        let client = self.clone();
        let producer = Task(tokio::spawn(async move {
            let result = match client.deployment().await {
                Ok(Deployment::Cloud) => produce_cloud(&client, &read, cursor, &tx).await,
                Ok(Deployment::DataCenter) => produce_offsets(&client, &read, cursor, &tx).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                let _ = tx.send(Task(tokio::spawn(async move { Err(e) }))).await;
            }
        }));
        IssueBatches {
            rx,
            current: None,
            producer: Some(producer),
        }
    }
}

/// A spawned task that is aborted when dropped, so a reader dropped mid-way (an error, a job
/// cancelled, shutdown) leaves nothing running.
struct Task<T>(JoinHandle<T>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for Task<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.0).poll(cx) {
            Poll::Ready(Ok(v)) => Poll::Ready(v),
            Poll::Ready(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Aborted only when dropped, so never polled again after that.
            Poll::Ready(Err(_)) => Poll::Pending,
            Poll::Pending => Poll::Pending,
        }
    }
}

type Sender = mpsc::Sender<Task<Result<Batch, JiraError>>>;

/// Sends a batch already in hand; `false` once the reader is gone.
async fn send_ready(tx: &Sender, batch: Batch) -> bool {
    tx.send(Task(tokio::spawn(async move { Ok(batch) })))
        .await
        .is_ok()
}

/// Cloud: id pages one after the other (the next read while this one's issues are fetched),
/// bulk fetches of [`ISSUES_PER_FETCH`] in flight.
async fn produce_cloud(
    client: &JiraClient,
    read: &BulkRead,
    cursor: SearchCursor,
    tx: &Sender,
) -> Result<(), JiraError> {
    let (start, mut resume) = match cursor {
        SearchCursor::Done => return Ok(()),
        SearchCursor::Within { page, skip, last } => (
            page.map_or(SearchCursor::Start, SearchCursor::Token),
            Some((skip, last)),
        ),
        other => (other, None),
    };
    let pager = client
        .search_from(&read.jql, &["id"], start)
        .page_size(IDS_PER_PAGE);
    let mut next = Some(spawn_page(pager));
    while let Some(task) = next.take() {
        let (pager, page_at, page) = task.await;
        let page_at = match page_at {
            SearchCursor::Token(t) => Some(t),
            _ => None,
        };
        let page = page?;
        let Some(page) = page else {
            send_ready(
                tx,
                Batch {
                    after: Some(SearchCursor::Done),
                    ..Batch::default()
                },
            )
            .await;
            return Ok(());
        };
        let after_page = pager.cursor().clone();
        if after_page != SearchCursor::Done {
            next = Some(spawn_page(pager));
        }
        let ids: Vec<String> = page.into_iter().map(|i| i.id).collect();
        // Resuming inside this page: skip what was done, but only if the page still starts
        // the same way (else read it whole: re-reading is harmless, skipping is not).
        let mut from = 0;
        if let Some((skip, last)) = resume.take() {
            let skip = usize::try_from(skip).unwrap_or(usize::MAX);
            if skip > 0 && ids.get(skip - 1) == Some(&last) {
                from = skip;
            }
        }
        if from >= ids.len() {
            if !send_ready(
                tx,
                Batch {
                    after: Some(after_page),
                    ..Batch::default()
                },
            )
            .await
            {
                return Ok(());
            }
            continue;
        }
        let mut at = from;
        while at < ids.len() {
            let end = (at + ISSUES_PER_FETCH).min(ids.len());
            let after = if end == ids.len() {
                after_page.clone()
            } else {
                SearchCursor::Within {
                    page: page_at.clone(),
                    skip: end as u64,
                    last: ids[end - 1].clone(),
                }
            };
            let chunk = ids[at..end].to_vec();
            let (client, read) = (client.clone(), read.clone());
            let task = Task(tokio::spawn(async move {
                let (issues, errors) = bulk_fetch(&client, &read, &chunk).await?;
                let mut batch = Batch {
                    issues,
                    after: Some(after),
                    total: None,
                    errors,
                    key_ids: Default::default(),
                };
                complete(&client, &read, &mut batch).await?;
                Ok(batch)
            }));
            if tx.send(task).await.is_err() {
                return Ok(());
            }
            at = end;
        }
    }
    Ok(())
}

type PageResult = (
    SearchPager,
    SearchCursor,
    Result<Option<Vec<Issue>>, JiraError>,
);

/// The next page of `pager` in its own task, handing back the pager and where the page began.
fn spawn_page(mut pager: SearchPager) -> Task<PageResult> {
    Task(tokio::spawn(async move {
        let at = pager.cursor().clone();
        let page = pager.next_page().await;
        (pager, at, page)
    }))
}

/// `POST /issue/bulkfetch` of `ids`, in the order asked (Jira answers in id order). Ids Jira
/// reports in `issueErrors` (retriable failures) are asked once more; what still fails is
/// returned beside the issues. Ids missing without an error were deleted or are not visible.
async fn bulk_fetch(
    client: &JiraClient,
    read: &BulkRead,
    ids: &[String],
) -> Result<(Vec<Issue>, Vec<(String, String)>), JiraError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct IssueError {
        #[serde(default)]
        id: Option<serde_json::Value>,
        #[serde(default)]
        error_message: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Results {
        #[serde(default)]
        issues: Vec<Issue>,
        #[serde(default)]
        issue_errors: Vec<IssueError>,
    }
    let mut found: std::collections::HashMap<String, Issue> = std::collections::HashMap::new();
    let mut ask: Vec<String> = ids.to_vec();
    let mut errors = Vec::new();
    for attempt in 0..2 {
        let url = client.api_url(&["issue", "bulkfetch"]).await?;
        let mut body = json!({"issueIdsOrKeys": ask, "fields": read.fields});
        if read.changelog {
            body["expand"] = json!(["changelog"]);
        }
        if !read.properties.is_empty() {
            body["properties"] = json!(read.properties);
        }
        let results: Results = client
            .call(Call::new(Method::POST, url, Idempotency::Idempotent).json(&body)?)
            .await?;
        for issue in results.issues {
            found.insert(issue.id.clone(), issue);
        }
        errors = results
            .issue_errors
            .into_iter()
            .filter_map(|e| {
                let id = match e.id? {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                Some((id, e.error_message.unwrap_or_default()))
            })
            .filter(|(id, _)| !found.contains_key(id))
            .collect();
        if errors.is_empty() || attempt == 1 {
            break;
        }
        ask = errors.iter().map(|(id, _)| id.clone()).collect();
    }
    let issues = ids.iter().filter_map(|id| found.remove(id)).collect();
    Ok((issues, errors))
}

/// Reads the comments Jira left out of each issue of the batch, all at once, and the ids of
/// the issues its [`BulkRead::key_fields`] name.
async fn complete(
    client: &JiraClient,
    read: &BulkRead,
    batch: &mut Batch,
) -> Result<(), JiraError> {
    if !read.key_fields.is_empty() {
        let own: Vec<(String, String)> = batch
            .issues
            .iter()
            .map(|i| (i.key.clone(), i.id.clone()))
            .collect();
        read.known_keys.remember(own.iter().cloned());
        let mut named: Vec<String> = batch
            .issues
            .iter()
            .flat_map(|i| read.key_fields.iter().filter_map(|f| i.fields.get(f)))
            .filter_map(serde_json::Value::as_str)
            .map(str::to_owned)
            .collect();
        named.sort();
        named.dedup();
        let mut wanted = Vec::new();
        {
            let known = read.known_keys.lock();
            for key in named {
                match known.get(&key) {
                    Some(id) => {
                        batch.key_ids.insert(key, id.clone());
                    }
                    None => wanted.push(key),
                }
            }
        }
        if !wanted.is_empty() {
            let found = client.issue_ids_by_key(&wanted).await?;
            read.known_keys
                .remember(found.iter().map(|(k, v)| (k.clone(), v.clone())));
            batch.key_ids.extend(found);
        }
        batch.key_ids.extend(own);
    }
    if !read.complete_comments {
        return Ok(());
    }
    let results = futures_util::future::join_all(
        batch.issues.iter_mut().map(|i| client.complete_comments(i)),
    )
    .await;
    results.into_iter().collect()
}

/// Data Center: the first page alone (it says `total`), then every other page at once, then
/// page by page while the result keeps going past what `total` said.
async fn produce_offsets(
    client: &JiraClient,
    read: &BulkRead,
    cursor: SearchCursor,
    tx: &Sender,
) -> Result<(), JiraError> {
    let start = match cursor {
        SearchCursor::Done => return Ok(()),
        SearchCursor::Start => 0,
        SearchCursor::Offset(n) => n,
        other => {
            return Err(JiraError::Config(format!(
                "cannot resume a Jira Data Center search from {other:?}"
            )))
        }
    };
    let fields: Vec<&str> = read.fields.iter().map(String::as_str).collect();
    let page_size = read.page_size.max(1);
    let pager_at = |at: u64| {
        let pager = client
            .search_from(&read.jql, &fields, SearchCursor::Offset(at))
            .page_size(page_size)
            .with_properties(&read.properties);
        if read.changelog {
            pager.with_changelog()
        } else {
            pager
        }
    };
    let mut first = pager_at(start);
    let page = first.next_page().await?.unwrap_or_default();
    let total = first.last_total();
    // Jira may cap maxResults below what was asked: its answer is the stride.
    let stride = first
        .last_max_results()
        .filter(|m| *m > 0)
        .unwrap_or(u64::from(page_size));
    let mut batch = Batch {
        issues: page,
        after: Some(first.cursor().clone()),
        total,
        errors: Vec::new(),
        key_ids: Default::default(),
    };
    complete(client, read, &mut batch).await?;
    if !send_ready(tx, batch).await {
        return Ok(());
    }
    let Some(total) = total else {
        // No total (a proxy stripped it): one page after the other.
        return tail(client, read, first, tx).await;
    };
    if *first.cursor() == SearchCursor::Done {
        return Ok(());
    }
    let mut at = start + stride;
    while at < total {
        let end = at + stride;
        let after = if end >= total {
            None
        } else {
            Some(SearchCursor::Offset(end))
        };
        let mut pager = pager_at(at);
        let read2 = read.clone();
        let client2 = client.clone();
        let task = Task(tokio::spawn(async move {
            let issues = pager.next_page().await?.unwrap_or_default();
            let mut batch = Batch {
                issues,
                // The last planned page resumes where the tail starts.
                after: Some(after.unwrap_or(SearchCursor::Offset(end))),
                total: pager.last_total(),
                errors: Vec::new(),
                key_ids: Default::default(),
            };
            complete(&client2, &read2, &mut batch).await?;
            Ok(batch)
        }));
        if tx.send(task).await.is_err() {
            return Ok(());
        }
        at = end;
    }
    // Issues added since the first page: read on from the end, one page at a time.
    tail(client, read, pager_at(at), tx).await
}

/// Page after page of `pager` until the search is exhausted; the last batch resumes at `Done`.
async fn tail(
    client: &JiraClient,
    read: &BulkRead,
    mut pager: SearchPager,
    tx: &Sender,
) -> Result<(), JiraError> {
    loop {
        let page = pager.next_page().await?;
        let mut batch = Batch {
            issues: page.unwrap_or_default(),
            after: Some(pager.cursor().clone()),
            total: pager.last_total(),
            errors: Vec::new(),
            key_ids: Default::default(),
        };
        complete(client, read, &mut batch).await?;
        let done = *pager.cursor() == SearchCursor::Done;
        if !send_ready(tx, batch).await || done {
            return Ok(());
        }
    }
}
