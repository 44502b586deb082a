//! Balances from the public chain over JSON-RPC (`eth_getBalance`, and
//! `eth_call` of ERC-20 `balanceOf`), over plain HTTP/1.1 with the hyper
//! client the gateway already links. alloy's HTTP transports pull a second
//! TLS stack (DESIGN.md §9 allows ring only), and the gateway reads from a
//! node it runs beside, so this speaks `http://` only.

use box_core::{Address, U256};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use std::time::Duration;

/// A JSON-RPC endpoint.
#[derive(Clone, Debug)]
pub struct EthRpc {
    url: hyper::Uri,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl EthRpc {
    /// A client of `url` (`http://host:port`).
    pub fn new(url: &str) -> Result<Self, String> {
        let url: hyper::Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if url.scheme_str() != Some("http") {
            return Err(format!("{url} is not an http:// URL"));
        }
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        Ok(Self { url, client })
    }

    async fn call(&self, method: &str, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let req = hyper::Request::post(self.url.clone())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let res = tokio::time::timeout(Duration::from_secs(5), self.client.request(req))
            .await
            .map_err(|_| format!("{} did not answer {method} within 5 s", self.url))?
            .map_err(|e| format!("{} is unreachable: {e}", self.url))?;
        let bytes = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("{method}: the answer is not JSON: {e}"))?;
        if let Some(err) = v.get("error") {
            return Err(format!("{method}: {err}"));
        }
        v.get("result").cloned().ok_or_else(|| format!("{method}: the answer has no result"))
    }

    /// ETH balance of `who` at the latest block, in wei.
    pub async fn balance(&self, who: Address) -> Result<U256, String> {
        let r = self.call("eth_getBalance", serde_json::json!([who.to_checksum(None), "latest"])).await?;
        quantity(&r)
    }

    /// ERC-20 `token.balanceOf(who)` at the latest block.
    pub async fn erc20_balance(&self, token: Address, who: Address) -> Result<U256, String> {
        // balanceOf(address): selector 0x70a08231, then the address left-padded to 32 bytes.
        let data = format!("0x70a08231{:0>64}", hex::encode(who.as_slice()));
        let r =
            self.call("eth_call", serde_json::json!([{"to": token.to_checksum(None), "data": data}, "latest"])).await?;
        let h = r.as_str().and_then(|s| s.strip_prefix("0x")).ok_or("eth_call: the result is not hex")?;
        if h.len() != 64 {
            return Err(format!("balanceOf returned {} bytes, not 32: is {token} an ERC-20 contract?", h.len() / 2));
        }
        U256::from_str_radix(h, 16).map_err(|e| e.to_string())
    }
}

fn quantity(v: &serde_json::Value) -> Result<U256, String> {
    let h = v.as_str().and_then(|s| s.strip_prefix("0x")).ok_or("the result is not a hex quantity")?;
    if h.is_empty() || h.len() > 64 {
        return Err(format!("{h:?} is not a 256-bit quantity"));
    }
    U256::from_str_radix(h, 16).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn quantities_parse_as_256_bit_integers_and_refuse_junk() {
        assert_eq!(quantity(&serde_json::json!("0x0")).unwrap(), U256::ZERO);
        assert_eq!(quantity(&serde_json::json!("0xde0b6b3a7640000")).unwrap(), U256::from(10u64.pow(18)));
        for bad in [serde_json::json!(1), serde_json::json!("12"), serde_json::json!("0x"), serde_json::json!("0xzz")] {
            assert!(quantity(&bad).is_err(), "{bad}");
        }
        assert!(EthRpc::new("https://x:1").is_err());
    }
}
