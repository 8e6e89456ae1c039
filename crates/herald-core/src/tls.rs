//! TLS set-up. reqwest is built with rustls and no bundled crypto provider, so the
//! ring provider must be installed once per process before a client is built
//! (building a client without it panics).

/// Installs rustls' ring provider; safe to call any number of times.
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
