//! The getstatistics counters (`kav-protocol.md` §1.5).
//!
//! Plain numbers; the server keeps one set per core and sums them with
//! [`KavCounters::add`] when asked.

use super::response::ScanResult;

/// The nine KAV counters, in the vendor's order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KavCounters {
    /// Every file, memory and URL scan request.
    pub total_requests: u64,
    /// Requests answered DETECT (objects and URLs).
    pub infected_requests: u64,
    /// Requests whose object was disinfected or deleted: always 0, ringscan never
    /// modifies objects.
    pub protected_requests: u64,
    /// Requests answered NON_SCANNED (the object's fault).
    pub error_requests: u64,
    /// Requests answered SERVER_ERROR (not the object's fault).
    pub engine_errors: u64,
    /// Bytes of the objects scanned.
    pub processed_data: u64,
    /// Bytes of the objects answered DETECT.
    pub infected_data: u64,
    /// URLs checked.
    pub processed_urls: u64,
    /// URLs found malicious, phishing, adware or riskware.
    pub infected_urls: u64,
}

impl KavCounters {
    /// Counts one file or memory scan of `bytes` bytes answered `result`.
    ///
    /// `processed_data` grows for every result but SERVER_ERROR: a NON_SCANNED object
    /// (corrupted, password protected, ...) was still read to find that out, while an
    /// engine failure says nothing about how much was read.
    pub fn record_scan(&mut self, bytes: u64, result: &ScanResult<'_>) {
        self.total_requests = self.total_requests.saturating_add(1);
        match result {
            ScanResult::Clean => {}
            ScanResult::Detect(_) => {
                self.infected_requests = self.infected_requests.saturating_add(1);
                self.infected_data = self.infected_data.saturating_add(bytes);
            }
            ScanResult::NonScanned(_) => {
                self.error_requests = self.error_requests.saturating_add(1);
            }
            ScanResult::ServerError => {
                self.engine_errors = self.engine_errors.saturating_add(1);
                return;
            }
        }
        self.processed_data = self.processed_data.saturating_add(bytes);
    }

    /// Counts one checkurl request. A detected URL is also an infected request: the
    /// vendor's example has total 3 = infected 3 with one infected URL among them.
    pub fn record_url(&mut self, infected: bool) {
        self.total_requests = self.total_requests.saturating_add(1);
        self.processed_urls = self.processed_urls.saturating_add(1);
        if infected {
            self.infected_requests = self.infected_requests.saturating_add(1);
            self.infected_urls = self.infected_urls.saturating_add(1);
        }
    }

    /// Adds `other` field by field (saturating).
    pub fn add(&mut self, other: &KavCounters) {
        self.total_requests = self.total_requests.saturating_add(other.total_requests);
        self.infected_requests = self
            .infected_requests
            .saturating_add(other.infected_requests);
        self.protected_requests = self
            .protected_requests
            .saturating_add(other.protected_requests);
        self.error_requests = self.error_requests.saturating_add(other.error_requests);
        self.engine_errors = self.engine_errors.saturating_add(other.engine_errors);
        self.processed_data = self.processed_data.saturating_add(other.processed_data);
        self.infected_data = self.infected_data.saturating_add(other.infected_data);
        self.processed_urls = self.processed_urls.saturating_add(other.processed_urls);
        self.infected_urls = self.infected_urls.saturating_add(other.infected_urls);
    }

    /// The counters with their wire names, in the vendor's order.
    pub fn fields(&self) -> [(&'static str, u64); 9] {
        [
            ("total_requests", self.total_requests),
            ("infected_requests", self.infected_requests),
            ("protected_requests", self.protected_requests),
            ("error_requests", self.error_requests),
            ("engine_errors", self.engine_errors),
            ("processed_data", self.processed_data),
            ("infected_data", self.infected_data),
            ("processed_urls", self.processed_urls),
            ("infected_urls", self.infected_urls),
        ]
    }
}
