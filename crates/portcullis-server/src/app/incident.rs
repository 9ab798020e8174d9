//! Server-side failures an application call met on its way to an answer: what was
//! being done and the error, returned beside the outcome ([`Reported`]) instead of
//! logged here. The HTTP layer attaches them to the response (there an `Incident` is
//! called a `Fault`), and its fault-logging middleware logs each once, with the
//! request id (CONVENTIONS §8).

/// One server-side failure: never holds secret material (the error names what
/// failed, not the values involved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// What was being done, as the log message ("giving back … cells failed").
    pub context: &'static str,
    /// The error, formatted.
    pub error: String,
    /// Logged at warn (a side task failed, the answer is still the right one) instead
    /// of error.
    pub warn: bool,
}

impl Incident {
    /// An incident logged at error.
    pub fn error(context: &'static str, error: &dyn std::fmt::Display) -> Self {
        Self {
            context,
            error: error.to_string(),
            warn: false,
        }
    }

    /// An incident logged at warn.
    pub fn warn(context: &'static str, error: &dyn std::fmt::Display) -> Self {
        Self {
            context,
            error: error.to_string(),
            warn: true,
        }
    }
}

/// An outcome and the incidents met while reaching it, in the order they happened.
#[derive(Debug)]
pub struct Reported<T> {
    /// What the caller answers with.
    pub outcome: T,
    /// Failures to log (before any the answer itself carries).
    pub incidents: Vec<Incident>,
}

impl<T> Reported<T> {
    /// `outcome` with no incidents.
    pub fn clean(outcome: T) -> Self {
        Self {
            outcome,
            incidents: Vec::new(),
        }
    }

    /// `outcome` after `incidents`.
    pub fn with(outcome: T, incidents: Vec<Incident>) -> Self {
        Self { outcome, incidents }
    }

    /// The same incidents, with `f` applied to the outcome.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reported<U> {
        Reported {
            outcome: f(self.outcome),
            incidents: self.incidents,
        }
    }

    /// `earlier` incidents first, then this one's.
    pub fn after(mut self, mut earlier: Vec<Incident>) -> Self {
        earlier.append(&mut self.incidents);
        self.incidents = earlier;
        self
    }
}

impl<T> From<T> for Reported<T> {
    fn from(outcome: T) -> Self {
        Self::clean(outcome)
    }
}
