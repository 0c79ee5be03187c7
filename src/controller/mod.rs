//! The reconciling controller: keyed work queue, reconcilers, conditions, backoff.
