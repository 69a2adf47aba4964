//! Query parameters, response wrappers and Calendly's cursor pagination (calendly-api.md §8.3).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use crate::errors::{ApiError, Detail};

/// `{ "resource": … }`.
#[derive(Serialize)]
pub(crate) struct Resource<T> {
    pub resource: T,
}

/// `{ "collection": [...], "pagination": {...} }`.
#[derive(Serialize)]
pub(crate) struct Collection<T> {
    pub collection: Vec<T>,
    pub pagination: Pagination,
}

/// All five keys are always present.
#[derive(Debug, Serialize)]
pub(crate) struct Pagination {
    pub count: usize,
    pub next_page: Option<String>,
    pub next_page_token: Option<String>,
    pub previous_page: Option<String>,
    pub previous_page_token: Option<String>,
}

/// Decoded query string; empty values count as absent (`?user=` is a missing user).
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// `count` (1–100, default 20) and `page_token`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PageRequest {
    count: usize,
    offset: usize,
}

impl PageRequest {
    pub(crate) fn from_params(params: &Params) -> Result<Self, ApiError> {
        let mut details = Vec::new();
        let count = match params.get("count") {
            None => 20,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => {
                    details.push(Detail::invalid("count", "must be between 1 and 100"));
                    20
                }
            },
        };
        let offset = match params.get("page_token") {
            None => 0,
            Some(token) => decode_token(token).unwrap_or_else(|| {
                details.push(Detail::invalid("page_token", "is invalid"));
                0
            }),
        };
        if details.is_empty() {
            Ok(Self { count, offset })
        } else {
            Err(ApiError::invalid_argument(details))
        }
    }

    /// This page of `items`, with links that repeat the request's other parameters.
    pub(crate) fn apply<T>(
        &self,
        items: Vec<T>,
        base_url: &str,
        path: &str,
        params: &Params,
    ) -> (Vec<T>, Pagination) {
        let total = items.len();
        let page: Vec<T> = items
            .into_iter()
            .skip(self.offset)
            .take(self.count)
            .collect();
        let end = self.offset + page.len();
        let next_token = (end < total).then(|| encode_token(end));
        let previous_token =
            (self.offset > 0).then(|| encode_token(self.offset.saturating_sub(self.count)));
        let link = |token: &String| self.link(base_url, path, params, token);
        let pagination = Pagination {
            count: page.len(),
            next_page: next_token.as_ref().map(link),
            next_page_token: next_token.clone(),
            previous_page: previous_token.as_ref().map(link),
            previous_page_token: previous_token.clone(),
        };
        (page, pagination)
    }

    fn link(&self, base_url: &str, path: &str, params: &Params, token: &str) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params
            .0
            .iter()
            .filter(|(k, _)| k != "count" && k != "page_token")
        {
            query.append_pair(k, v);
        }
        query.append_pair("count", &self.count.to_string());
        query.append_pair("page_token", token);
        format!("{base_url}{path}?{}", query.finish())
    }
}

/// Opaque to clients; an offset inside.
fn encode_token(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("calendly-sim:{offset}"))
}

fn decode_token(token: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("calendly-sim:")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_link_to_each_other_and_keep_other_parameters() {
        let params = Params::parse(Some("organization=o&count=2"));
        let first = PageRequest::from_params(&params).unwrap();
        let (items, pagination) = first.apply(vec![1, 2, 3, 4, 5], "http://h", "/x", &params);
        assert_eq!(items, vec![1, 2]);
        assert_eq!(pagination.count, 2);
        assert!(pagination.previous_page.is_none());
        let next = pagination.next_page.unwrap();
        assert!(
            next.starts_with("http://h/x?organization=o&count=2&page_token="),
            "{next}"
        );

        let query = next.split_once('?').unwrap().1;
        let params = Params::parse(Some(query));
        let second = PageRequest::from_params(&params).unwrap();
        let (items, pagination) = second.apply(vec![1, 2, 3, 4, 5], "http://h", "/x", &params);
        assert_eq!(items, vec![3, 4]);
        assert!(pagination.previous_page_token.is_some());
    }

    #[test]
    fn bad_count_and_token_are_invalid_arguments() {
        assert!(PageRequest::from_params(&Params::parse(Some("count=0"))).is_err());
        assert!(PageRequest::from_params(&Params::parse(Some("count=101"))).is_err());
        assert!(PageRequest::from_params(&Params::parse(Some("count=abc"))).is_err());
        assert!(PageRequest::from_params(&Params::parse(Some("page_token=nope"))).is_err());
    }
}
