//! [`RedisStats`]: counters of one [`RedisCache`](crate::RedisCache).

jwt_cache::counters! {
    /// Counters of one [`RedisCache`](crate::RedisCache).
    pub struct RedisStats {
        /// Calls made to Redis (a pipeline counts once).
        calls,
        /// Calls that failed or timed out.
        errors,
        /// Of those, timeouts.
        timeouts,
        /// Values that did not decode, failed the integrity check, were past their `not_after`,
        /// or did not match their token (each treated as a miss).
        decode_errors,
        /// Calls not made because the circuit breaker was open.
        short_circuited,
        /// Revocations written to Redis but not kept in this instance's memory because its
        /// revocation set was full.
        local_revocations_dropped,
    }
}
