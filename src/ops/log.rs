//! The live log of one running operation.
//!
//! Lines are numbered here, in the order they were produced, and written in batches: a batch
//! goes out as soon as the previous write finished and at least one line waits, so a line
//! reaches the database within one write's time (well under the 250 ms the panel can see),
//! and a chatty command costs one INSERT per batch, not per line.

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::Db;
use crate::store::oplog::{self, NewLine, Stream};

/// Longest line kept (characters); a longer one is cut with a marker.
const MAX_LINE: usize = 8192;
/// Most lines in one INSERT.
const MAX_BATCH: usize = 500;

/// Appends lines to an operation's log from any task.
#[derive(Clone)]
pub struct OpLog {
    tx: mpsc::UnboundedSender<Msg>,
}

enum Msg {
    Line(Stream, String),
    /// Every line sent before this one is stored, then the writer stops.
    Close,
    /// The writer stops and hands back the lines sent before this one that it has not stored
    /// (the operation's end stores them in its own transaction).
    Drain,
}

/// Owns the writer task; [`LogWriter::close`] waits until every line is stored.
pub struct LogWriter {
    log: OpLog,
    task: JoinHandle<anyhow::Result<Vec<NewLine>>>,
}

impl LogWriter {
    /// Starts writing after the last line the operation already has (earlier attempts').
    pub async fn open(db: Db, operation_id: i64) -> anyhow::Result<Self> {
        let next = oplog::last_seq(&db, operation_id).await? + 1;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(write_loop(db, operation_id, next, rx));
        Ok(Self {
            log: OpLog { tx },
            task,
        })
    }

    pub fn log(&self) -> &OpLog {
        &self.log
    }

    /// Stores every line sent so far (by any clone) and stops the writer; lines sent after
    /// this are dropped.
    pub async fn close(self) -> anyhow::Result<()> {
        let Self { log, task } = self;
        // A failed send means the writer already stopped (on a database error): the task's
        // result says why.
        let _ = log.tx.send(Msg::Close);
        task.await?.map(drop)
    }

    /// Stops the writer and returns the lines sent so far (by any clone) that it has not
    /// stored, in order, for the caller to store; lines sent after this are dropped.
    pub async fn drain(self) -> anyhow::Result<Vec<NewLine>> {
        let Self { log, task } = self;
        let _ = log.tx.send(Msg::Drain);
        task.await?
    }
}

impl OpLog {
    pub fn line(&self, stream: Stream, text: impl Into<String>) {
        let mut text: String = text.into();
        if text.chars().count() > MAX_LINE {
            text = text.chars().take(MAX_LINE).collect::<String>() + " …[line cut]";
        }
        // A closed channel means the operation is over; late lines have nowhere to go.
        let _ = self.tx.send(Msg::Line(stream, text));
    }

    pub fn info(&self, text: impl Into<String>) {
        self.line(Stream::Info, text);
    }
}

async fn write_loop(
    db: Db,
    operation_id: i64,
    mut next: i64,
    mut rx: mpsc::UnboundedReceiver<Msg>,
) -> anyhow::Result<Vec<NewLine>> {
    let mut batch = Vec::new();
    // Waits for a first message, then takes whatever else is already queued.
    while let Some(mut msg) = rx.recv().await {
        loop {
            match msg {
                Msg::Line(stream, line) => {
                    batch.push(NewLine {
                        seq: next,
                        at: Utc::now(),
                        stream,
                        line,
                    });
                    next += 1;
                }
                Msg::Close => {
                    if !batch.is_empty() {
                        oplog::append(&db, operation_id, &batch).await?;
                    }
                    return Ok(Vec::new());
                }
                Msg::Drain => return Ok(batch),
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            match rx.try_recv() {
                Ok(next_msg) => msg = next_msg,
                Err(_) => break,
            }
        }
        oplog::append(&db, operation_id, &batch).await?;
        batch.clear();
    }
    Ok(Vec::new())
}
