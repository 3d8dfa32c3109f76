//! `--tls`: the same strict ping-pong over TLS (rustls with ring), one
//! blocking thread per connection. The server's certificate is not checked
//! (benchmark servers use a self-signed one); the measured window and the
//! JSON report are those of the plain client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

use crate::{proc_cpu_seconds, proc_wait_seconds, self_cpu_seconds, Report};

#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_config() -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

struct Shared {
    completed: AtomicU64,
    stop: AtomicBool,
    errors: Mutex<Vec<String>>,
    full_checks: AtomicU64,
}

fn ping_pong(
    addr: &str,
    index: usize,
    size: usize,
    check_every: u64,
    config: Arc<ClientConfig>,
    shared: &Shared,
) -> Result<(), String> {
    let tcp = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    tcp.set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    let name = ServerName::try_from("localhost").expect("a valid DNS name");
    let conn = ClientConnection::new(config, name).map_err(|e| format!("TLS client: {e}"))?;
    let mut stream = StreamOwned::new(conn, tcp);
    let tx: Vec<u8> = (0..size)
        .map(|j| {
            (j as u32)
                .wrapping_mul(31)
                .wrapping_add(index as u32 * 7 + 1) as u8
        })
        .collect();
    let mut rx = vec![0u8; size];
    let mut seq = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        stream
            .write_all(&tx)
            .map_err(|e| format!("TLS write: {e}"))?;
        stream.flush().map_err(|e| format!("TLS flush: {e}"))?;
        stream
            .read_exact(&mut rx)
            .map_err(|e| format!("TLS read: {e}"))?;
        seq += 1;
        if check_every > 0 && seq % check_every == 1 {
            if rx != tx {
                return Err("echoed bytes differ from those sent".into());
            }
            shared.full_checks.fetch_add(1, Ordering::Relaxed);
        }
        shared.completed.fetch_add(1, Ordering::Relaxed);
    }
    stream.conn.send_close_notify();
    let _ = stream.flush();
    Ok(())
}

/// Runs the TLS client; the report is printed by the caller.
pub fn run(
    addr: &str,
    conns: usize,
    size: usize,
    warmup: f64,
    duration: f64,
    server_pid: Option<i32>,
    check_every: u64,
) -> Report {
    let config = client_config();
    let shared = Arc::new(Shared {
        completed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        errors: Mutex::new(Vec::new()),
        full_checks: AtomicU64::new(0),
    });
    let workers: Vec<_> = (0..conns)
        .map(|i| {
            let (addr, config, shared) = (addr.to_string(), config.clone(), shared.clone());
            thread::spawn(move || {
                if let Err(e) = ping_pong(&addr, i, size, check_every, config, &shared) {
                    shared.errors.lock().unwrap().push(e);
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_secs_f64(warmup));
    let me = std::process::id() as i32;
    let warm_rt = shared.completed.load(Ordering::Relaxed);
    let (srv0, sw0, cw0, cli0) = (
        server_pid.and_then(proc_cpu_seconds),
        server_pid.and_then(proc_wait_seconds),
        proc_wait_seconds(me),
        self_cpu_seconds(),
    );
    let t0 = Instant::now();
    thread::sleep(Duration::from_secs_f64(duration));
    let done = shared.completed.load(Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let (srv1, sw1, cw1, cli1) = (
        server_pid.and_then(proc_cpu_seconds),
        server_pid.and_then(proc_wait_seconds),
        proc_wait_seconds(me),
        self_cpu_seconds(),
    );
    shared.stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let delta = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let errors = std::mem::take(&mut *shared.errors.lock().unwrap());
    Report {
        round_trips: done - warm_rt,
        elapsed,
        errors,
        warmup_round_trips: warm_rt,
        full_checks: shared.full_checks.load(Ordering::Relaxed),
        server_cpu: delta(srv0, srv1),
        client_cpu: Some(cli1 - cli0),
        server_wait: delta(sw0, sw1),
        client_wait: delta(cw0, cw1),
    }
}
