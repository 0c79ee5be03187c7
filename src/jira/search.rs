//! JQL search, page by page, in both dialects: Cloud's token paging (`/rest/api/3/search/jql`)
//! and Data Center's offset paging (`/rest/api/2/search`). Only one page is ever held.

use futures_util::Stream;
use serde::{Deserialize, Serialize};

use super::client::{Call, Idempotency, JiraClient};
use super::config::Deployment;
use super::error::JiraError;
use super::types::{Issue, OffsetSearchPage, TokenSearchPage};

/// Issues per page asked for; Jira may return fewer and the pager follows what it gets.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// Longer JQL (e.g. `key in (...)` over hundreds of keys) goes in a POST body, because proxies
/// in front of Jira commonly refuse URLs beyond 4-8 KiB.
const MAX_JQL_IN_URL: usize = 2000;

/// Where a search stands; persist it to resume an interrupted one-time sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "at")]
pub enum SearchCursor {
    Start,
    /// Cloud: the `nextPageToken` of the next page.
    Token(String),
    /// Data Center: the `startAt` of the next page.
    Offset(u64),
    /// Cloud, ids-only paging with bulk fetches ([`super::bulk`]): inside the id page that
    /// starts at `page` (`None`: the first page), the first `skip` ids are done, the last of
    /// them `last`. A resume skips them only if the page read again still has `last` there.
    Within {
        page: Option<String>,
        skip: u64,
        last: String,
    },
    Done,
}

/// A running search. Call [`SearchPager::next_page`] until it returns `None`, or turn it into a
/// stream. A failed page leaves the cursor where it was, so the same page can be asked again.
#[derive(Debug)]
pub struct SearchPager {
    client: JiraClient,
    jql: String,
    fields: String,
    page_size: u32,
    expand_changelog: bool,
    /// Entity properties to return with each issue (`properties`), comma-separated.
    properties: Option<String>,
    cursor: SearchCursor,
    /// Data Center: `total` and `maxResults` of the last page read.
    last_total: Option<u64>,
    last_max_results: Option<u64>,
}

impl JiraClient {
    /// Starts a JQL search returning `fields` (empty = Jira's navigable fields).
    pub fn search(&self, jql: &str, fields: &[&str]) -> SearchPager {
        self.search_from(jql, fields, SearchCursor::Start)
    }

    /// Resumes a search at a saved cursor.
    pub fn search_from(&self, jql: &str, fields: &[&str], cursor: SearchCursor) -> SearchPager {
        let fields = if fields.is_empty() {
            // Cloud's search/jql returns only ids unless told otherwise.
            "*navigable".to_owned()
        } else {
            fields.join(",")
        };
        SearchPager {
            client: self.clone(),
            jql: jql.to_owned(),
            fields,
            page_size: DEFAULT_PAGE_SIZE,
            expand_changelog: false,
            properties: None,
            cursor,
            last_total: None,
            last_max_results: None,
        }
    }
}

impl SearchPager {
    pub fn page_size(mut self, size: u32) -> SearchPager {
        self.page_size = size.max(1);
        self
    }

    /// Asks for each issue's changelog too (heavier pages).
    pub fn with_changelog(mut self) -> SearchPager {
        self.expand_changelog = true;
        self
    }

    /// Asks for these entity properties of each issue too (Jira returns up to five).
    pub fn with_properties(mut self, keys: &[String]) -> SearchPager {
        self.properties = (!keys.is_empty()).then(|| keys.join(","));
        self
    }

    /// Where the next page starts.
    pub fn cursor(&self) -> &SearchCursor {
        &self.cursor
    }

    /// How many the search matched according to the last page (Data Center only).
    pub fn last_total(&self) -> Option<u64> {
        self.last_total
    }

    /// The page size Jira applied to the last page (Data Center only; it may cap what was
    /// asked for).
    pub fn last_max_results(&self) -> Option<u64> {
        self.last_max_results
    }

    /// The next page, or `None` once the results are exhausted.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Issue>>, JiraError> {
        if self.cursor == SearchCursor::Done {
            return Ok(None);
        }
        let deployment = self.client.deployment().await?;
        let (issues, next) = match deployment {
            Deployment::Cloud => self.token_page().await?,
            Deployment::DataCenter => self.offset_page().await?,
        };
        self.cursor = next;
        if issues.is_empty() && self.cursor == SearchCursor::Done {
            return Ok(None);
        }
        Ok(Some(issues))
    }

    /// The pages as a stream; it ends after the last page or after the first error.
    pub fn into_stream(self) -> impl Stream<Item = Result<Vec<Issue>, JiraError>> + Send {
        futures_util::stream::unfold(Some(self), |state| async move {
            let mut pager = state?;
            match pager.next_page().await {
                Ok(Some(page)) => Some((Ok(page), Some(pager))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }

    /// The page request: GET with query parameters, or for long JQL the same as a POST body
    /// (still idempotent: a search changes nothing). `position` is `nextPageToken` or `startAt`.
    fn page_call(
        &self,
        url: reqwest::Url,
        position: Option<(&str, serde_json::Value)>,
    ) -> Result<Call, JiraError> {
        if self.jql.len() > MAX_JQL_IN_URL {
            let mut body = serde_json::json!({
                "jql": self.jql,
                "fields": self.fields.split(',').collect::<Vec<_>>(),
                "maxResults": self.page_size,
            });
            if self.expand_changelog {
                // Cloud's search/jql takes a string here, Data Center's search a list.
                body["expand"] = if url.path().ends_with("/jql") {
                    serde_json::json!("changelog")
                } else {
                    serde_json::json!(["changelog"])
                };
            }
            if let Some(p) = &self.properties {
                body["properties"] = serde_json::json!(p.split(',').collect::<Vec<_>>());
            }
            if let Some((key, value)) = position {
                body[key] = value;
            }
            return Call::new(reqwest::Method::POST, url, Idempotency::Idempotent).json(&body);
        }
        let mut call = Call::get(url)
            .query("jql", &self.jql)
            .query("fields", &self.fields)
            .query("maxResults", self.page_size);
        if self.expand_changelog {
            call = call.query("expand", "changelog");
        }
        if let Some(p) = &self.properties {
            call = call.query("properties", p);
        }
        if let Some((key, value)) = position {
            let text = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            call = call.query(key, text);
        }
        Ok(call)
    }

    async fn token_page(&self) -> Result<(Vec<Issue>, SearchCursor), JiraError> {
        let token = match &self.cursor {
            SearchCursor::Token(t) => Some(t.clone()),
            SearchCursor::Start => None,
            other => {
                return Err(JiraError::Config(format!(
                    "cannot resume a Jira Cloud search from {other:?}"
                )))
            }
        };
        let url = self.client.api_url(&["search", "jql"]).await?;
        let position = token
            .as_ref()
            .map(|t| ("nextPageToken", serde_json::Value::String(t.clone())));
        let call = self.page_call(url, position)?;
        let page: TokenSearchPage = self.client.call(call).await?;
        let next = match page.next_page_token {
            // A repeated token would loop forever; treat it as the end.
            Some(next) if page.is_last != Some(true) && Some(&next) != token.as_ref() => {
                SearchCursor::Token(next)
            }
            _ => SearchCursor::Done,
        };
        Ok((page.issues, next))
    }

    async fn offset_page(&mut self) -> Result<(Vec<Issue>, SearchCursor), JiraError> {
        let start_at = match &self.cursor {
            SearchCursor::Offset(n) => *n,
            SearchCursor::Start => 0,
            other => {
                return Err(JiraError::Config(format!(
                    "cannot resume a Jira Data Center search from {other:?}"
                )))
            }
        };
        let url = self.client.api_url(&["search"]).await?;
        let call = self.page_call(url, Some(("startAt", serde_json::json!(start_at))))?;
        let page: OffsetSearchPage = self.client.call(call).await?;
        self.last_total = page.total;
        self.last_max_results = Some(page.max_results).filter(|m| *m > 0);
        let count = page.issues.len() as u64;
        let next_start = page.start_at.max(start_at) + count;
        // Without a total (some proxies strip it) the pager reads until an empty page.
        let exhausted = count == 0 || page.total.is_some_and(|total| next_start >= total);
        let next = if exhausted {
            SearchCursor::Done
        } else {
            SearchCursor::Offset(next_start)
        };
        Ok((page.issues, next))
    }
}
