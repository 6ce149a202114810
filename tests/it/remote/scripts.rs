//! Job scripts over the transport: arguments, live output, secrets.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_reach_the_script_intact_and_are_never_executed() {
    let remote = remote(8);
    let host = testbed::get().host(3);
    let marker = Path::new(&host.base_dir).join(format!("injected-{}", std::process::id()));
    let marker = marker.to_str().unwrap().to_owned();
    let nasty = [
        "two words".to_owned(),
        "it's".to_owned(),
        "\"double\"".to_owned(),
        format!("$(touch {marker})"),
        format!("`touch {marker}`"),
        format!("; touch {marker}"),
        format!("&& touch {marker} #"),
        "*".to_owned(),
        "$HOME".to_owned(),
        String::new(),
        "back\\slash".to_owned(),
        "tab\there".to_owned(),
    ];
    let args: Vec<&str> = nasty.iter().map(String::as_str).collect();
    let (result, lines) = run(
        &remote,
        &target(3),
        ECHO_ARGS,
        &args,
        &[],
        opts(Duration::from_secs(30), &[]),
    )
    .await;
    assert_eq!(result.unwrap(), 0);
    let expected: Vec<String> = nasty
        .iter()
        .enumerate()
        .map(|(i, a)| format!("::arg {} {a}", i + 1))
        .collect();
    assert_eq!(texts(&lines, Stream::Out), expected);
    assert!(!Path::new(&marker).exists(), "an argument was executed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_streams_live_in_order_with_stderr_apart() {
    let remote = remote(8);
    let started = Instant::now();
    let (result, lines) = run(
        &remote,
        &target(3),
        STREAM_TEST,
        &["4", "0.4"],
        &[],
        opts(Duration::from_secs(30), &[]),
    )
    .await;
    let ended = Instant::now();
    assert_eq!(result.unwrap(), 0);
    let out = texts(&lines, Stream::Out);
    assert_eq!(
        out,
        [
            "::step start",
            "line 1",
            "line 2",
            "line 3",
            "line 4",
            "::step end"
        ]
    );
    assert_eq!(
        texts(&lines, Stream::Err),
        ["stream_test: this line goes to stderr"]
    );
    let first = lines
        .iter()
        .find(|(_, l)| l.text == "line 1")
        .map(|(at, _)| *at)
        .unwrap();
    // The script sleeps 1.2 s after `line 1`: that line must have come before the end.
    assert!(
        ended.duration_since(first) >= Duration::from_millis(1000),
        "line 1 arrived {:?} after the start, the run ended {:?} after it",
        first.duration_since(started),
        ended.duration_since(started)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_masked_and_never_on_a_command_line() {
    let remote = remote(8);
    let secret = format!("Sekr3t-{}-{}", std::process::id(), ulid::Ulid::generate());
    // Printed by the script (as an argument): masked before the caller sees it.
    let (result, lines) = run(
        &remote,
        &target(3),
        ECHO_ARGS,
        &[&format!("password={secret}"), "plain"],
        &[],
        opts(Duration::from_secs(30), &[&secret]),
    )
    .await;
    assert_eq!(result.unwrap(), 0);
    assert_eq!(
        texts(&lines, Stream::Out),
        ["::arg 1 password=***", "::arg 2 plain"]
    );

    // Given as environment: travels on stdin, so no process ever shows it.
    let env_secret = SecretString::from(format!("EnvSecret-{}", ulid::Ulid::generate()));
    let needle = secrecy::ExposeSecret::expose_secret(&env_secret).to_owned();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop = CancellationToken::new();
    let watcher = {
        let (seen, stop, needle) = (seen.clone(), stop.clone(), needle.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                seen.lock()
                    .unwrap()
                    .extend(processes_showing(&needle).into_iter().map(|(_, c)| c));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let (result, _) = run(
        &remote,
        &target(3),
        STREAM_TEST,
        &["5", "0.2"],
        &[("ALFA_TEST_SECRET", &env_secret)],
        opts(Duration::from_secs(30), &[]),
    )
    .await;
    stop.cancel();
    watcher.await.unwrap();
    assert_eq!(result.unwrap(), 0);
    assert!(
        seen.lock().unwrap().is_empty(),
        "the secret showed on a command line: {:?}",
        seen.lock().unwrap()
    );
}

/// The jobs' JSON string literals (`json_str`, and `json_str_to`, which the probe builds its
/// lines with) read back as the very text they were given: quotes, backslashes, newlines and
/// other control characters, Cyrillic.
#[test]
fn job_json_strings_read_back_as_the_text_they_were_given() {
    let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/lib.sh");
    for text in [
        "plain",
        "",
        "say \"hi\" \\ back\\slash",
        "line\nbreak\r\ttab \u{1} \u{1f} end",
        "Лаборатория №1",
    ] {
        for function in ["json_str", "json_str_to"] {
            let script = if function == "json_str" {
                "source \"$1\"; json_str \"$2\""
            } else {
                "source \"$1\"; json_str_to literal \"$2\"; printf '%s' \"$literal\""
            };
            let out = std::process::Command::new("bash")
                .args(["-c", script, "_"])
                .arg(&lib)
                .arg(text)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let literal = String::from_utf8(out.stdout).unwrap();
            let back: String = serde_json::from_str(&literal)
                .unwrap_or_else(|e| panic!("{function} gave {literal:?} for {text:?}: {e}"));
            assert_eq!(back, text, "{function}: {literal}");
        }
    }
}
