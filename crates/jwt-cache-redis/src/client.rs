//! Setting up the fred client, and naming a Redis without its credentials.

use std::time::Duration;

use fred::clients::Client;
use fred::interfaces::ClientLike;
use fred::types::Builder;
use fred::types::config::{Config, ReconnectPolicy};

/// Build a fred client for `url` the way a cache wants it: reconnect forever (every 100 ms),
/// also when the first connection fails, one attempt per command, and start connecting in the
/// background. `redis://`, `rediss://`, `redis-cluster://` and `redis-sentinel://` URLs work.
pub fn client_from_url(url: &str) -> Result<Client, fred::error::Error> {
    client_from_config(Config::from_url(url)?)
}

/// [`client_from_url`] for a fred `Config` you built yourself.
pub fn client_from_config(config: Config) -> Result<Client, fred::error::Error> {
    let client = cache_builder(config).build()?;
    // The connection task runs on its own; dropping its handle detaches it.
    drop(client.connect());
    Ok(client)
}

/// A fred builder configured the way a cache wants its clients (regular and subscriber):
/// reconnect forever, every 100 ms, also when the first connection fails; one attempt per
/// command; 1 s to connect.
pub(crate) fn cache_builder(mut config: Config) -> Builder {
    config.fail_fast = false;
    let mut builder = Builder::from_config(config);
    builder
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(1);
            c.internal_command_timeout = Duration::from_secs(1);
            c.max_command_attempts = 1;
        })
        .set_policy(ReconnectPolicy::new_constant(0, 100));
    builder
}

/// A Redis URL with its credentials removed: scheme, hosts and ports only, for logs and
/// banners (a password in a log line is a leaked password).
///
/// ```
/// use jwt_cache_redis::redacted_url;
/// assert_eq!(redacted_url("redis://user:s3cret@10.0.0.5:6380/2"), "redis://10.0.0.5:6380");
/// assert_eq!(redacted_url("redis-sentinel://:pw@a:26379,b:26379/mymaster"), "redis-sentinel://a:26379,b:26379");
/// assert_eq!(redacted_url("not a url"), "redis (unparsable url)");
/// ```
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "redis (unparsable url)".into();
    };
    // Authority: up to the first '/' or '?'; credentials: up to the last '@' in it.
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{hosts}")
}
