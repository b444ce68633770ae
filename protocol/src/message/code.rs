//! Status and Alert codes as enums. Codes this crate does not name are kept, not rejected
//! (`Other`), so a newer peer's code round-trips and can still be answered.

/// Defines a numeric protocol code enum with an `Other(u16)` fallback.
macro_rules! protocol_code {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A code without a name here, preserved as received.
            Other(u16),
        }

        impl $name {
            /// The numeric code.
            pub const fn code(self) -> u16 {
                match self { $($name::$variant => $code,)+ $name::Other(c) => c }
            }

            /// The enum value for a numeric code (never fails).
            pub const fn from_code(code: u16) -> Self {
                match code { $($code => $name::$variant,)+ c => $name::Other(c) }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.code())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().parse::<u16>().map($name::from_code)
            }
        }
    };
}

protocol_code! {
    /// SyncML status codes as DM uses them (SyncML RepPro 1.2 §10; OMA-TS-DM_RepPro-V1_2
    /// per-command tables; FACTS.md C.3).
    StatusCode {
        /// 200 OK.
        Ok = 200,
        /// 201 Item added.
        ItemAdded = 201,
        /// 202 Accepted for processing (asynchronous Exec; Generic Alert accepted).
        AcceptedForProcessing = 202,
        /// 203 Non-authoritative response.
        NonAuthoritative = 203,
        /// 204 No content.
        NoContent = 204,
        /// 205 Reset content.
        ResetContent = 205,
        /// 206 Partial content.
        PartialContent = 206,
        /// 207 Conflict resolved with merge.
        ConflictResolvedWithMerge = 207,
        /// 208 Conflict resolved with client's command winning.
        ConflictResolvedClientWins = 208,
        /// 209 Conflict resolved with duplicate.
        ConflictResolvedWithDuplicate = 209,
        /// 210 Delete without archive.
        DeleteWithoutArchive = 210,
        /// 211 Item not deleted.
        ItemNotDeleted = 211,
        /// 212 Authentication accepted for the rest of the session.
        AuthenticationAccepted = 212,
        /// 213 Chunked item accepted and buffered (large objects).
        ChunkedItemAccepted = 213,
        /// 214 Operation cancelled.
        OperationCancelled = 214,
        /// 215 Not executed (the user declined).
        NotExecuted = 215,
        /// 216 Atomic roll back OK.
        AtomicRollBackOk = 216,
        /// 300 Multiple choices.
        MultipleChoices = 300,
        /// 301 Moved permanently.
        MovedPermanently = 301,
        /// 302 Found.
        Found = 302,
        /// 303 See other.
        SeeOther = 303,
        /// 304 Not modified (the "No" answer to Alert 1101).
        NotModified = 304,
        /// 305 Use proxy.
        UseProxy = 305,
        /// 400 Bad request.
        BadRequest = 400,
        /// 401 Invalid credentials.
        InvalidCredentials = 401,
        /// 402 Payment required.
        PaymentRequired = 402,
        /// 403 Forbidden.
        Forbidden = 403,
        /// 404 Not found.
        NotFound = 404,
        /// 405 Command not allowed.
        CommandNotAllowed = 405,
        /// 406 Optional feature not supported.
        OptionalFeatureNotSupported = 406,
        /// 407 Missing credentials (authentication required).
        MissingCredentials = 407,
        /// 408 Request timeout.
        RequestTimeout = 408,
        /// 409 Conflict.
        Conflict = 409,
        /// 410 Gone.
        Gone = 410,
        /// 411 Size required.
        SizeRequired = 411,
        /// 412 Incomplete command.
        IncompleteCommand = 412,
        /// 413 Request entity too large.
        RequestEntityTooLarge = 413,
        /// 414 URI too long.
        UriTooLong = 414,
        /// 415 Unsupported media type or format.
        UnsupportedMediaType = 415,
        /// 416 Requested size too big.
        RequestedSizeTooBig = 416,
        /// 417 Retry later.
        RetryLater = 417,
        /// 418 Already exists.
        AlreadyExists = 418,
        /// 419 Conflict resolved with server data.
        ConflictResolvedServerWins = 419,
        /// 420 Device full.
        DeviceFull = 420,
        /// 421 Unknown search grammar.
        UnknownSearchGrammar = 421,
        /// 422 Bad CGI script.
        BadCgiScript = 422,
        /// 423 Soft-delete conflict.
        SoftDeleteConflict = 423,
        /// 424 Size mismatch (reassembled large object differs from the announced Size).
        SizeMismatch = 424,
        /// 425 Permission denied (ACL).
        PermissionDenied = 425,
        /// 426 Partial item not accepted.
        PartialItemNotAccepted = 426,
        /// 427 Item not empty.
        ItemNotEmpty = 427,
        /// 428 Move failed.
        MoveFailed = 428,
        /// 500 Command failed.
        CommandFailed = 500,
        /// 501 Command not implemented.
        CommandNotImplemented = 501,
        /// 502 Bad gateway.
        BadGateway = 502,
        /// 503 Service unavailable.
        ServiceUnavailable = 503,
        /// 504 Gateway timeout.
        GatewayTimeout = 504,
        /// 505 DTD version not supported.
        DtdVersionNotSupported = 505,
        /// 506 Processing error.
        ProcessingError = 506,
        /// 507 Atomic failed.
        AtomicFailed = 507,
        /// 508 Refresh required.
        RefreshRequired = 508,
        /// 510 Data store failure.
        DataStoreFailure = 510,
        /// 511 Server failure.
        ServerFailure = 511,
        /// 512 Synchronization failed.
        SynchronizationFailed = 512,
        /// 513 Protocol version not supported.
        ProtocolVersionNotSupported = 513,
        /// 514 Operation cancelled.
        OperationCancelledServer = 514,
        /// 516 Atomic roll back failed.
        AtomicRollBackFailed = 516,
        /// 517 Atomic response too large to fit.
        AtomicResponseTooLarge = 517,
    }
}

impl StatusCode {
    /// 2xx: the command succeeded (or was accepted).
    pub const fn is_success(self) -> bool {
        matches!(self.code(), 200..=299)
    }

    /// A 2xx that means the command took effect: not 214 (cancelled), 215 (not executed) or
    /// 216 (rolled back), which are 2xx yet leave the device unchanged (FACTS.md C.3).
    pub const fn took_effect(self) -> bool {
        self.is_success() && !matches!(self.code(), 214..=216)
    }
}

protocol_code! {
    /// DM Alert codes (OMA-TS-DM_Protocol-V1_2 §10 "Alert Types"; FACTS.md C.2).
    AlertCode {
        /// 1100 UI: display text.
        Display = 1100,
        /// 1101 UI: confirm or reject.
        ConfirmOrReject = 1101,
        /// 1102 UI: text input.
        TextInput = 1102,
        /// 1103 UI: single choice.
        SingleChoice = 1103,
        /// 1104 UI: multiple choice.
        MultipleChoice = 1104,
        /// 1200 Server-initiated management (package 1 after a notification).
        ServerInitiatedMgmt = 1200,
        /// 1201 Client-initiated management.
        ClientInitiatedMgmt = 1201,
        /// 1222 Next message: "send the next message of your package".
        NextMessage = 1222,
        /// 1223 Session abort.
        SessionAbort = 1223,
        /// 1224 Client event.
        ClientEvent = 1224,
        /// 1225 No end of data (a large object was interrupted).
        NoEndOfData = 1225,
        /// 1226 Generic alert.
        GenericAlert = 1226,
    }
}

impl AlertCode {
    /// Alerts 1100-1104 ask the user something (OMA-TS-DM_Protocol-V1_2 §8 "User interaction").
    pub const fn is_user_interaction(self) -> bool {
        matches!(self.code(), 1100..=1104)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_is_kept() {
        assert_eq!(StatusCode::from_code(212), StatusCode::AuthenticationAccepted);
        assert_eq!(StatusCode::from_code(299), StatusCode::Other(299));
        assert_eq!(StatusCode::Other(299).code(), 299);
        assert_eq!("1226".parse::<AlertCode>().unwrap(), AlertCode::GenericAlert);
        assert_eq!(" 1299 ".parse::<AlertCode>().unwrap(), AlertCode::Other(1299));
        assert!("abc".parse::<StatusCode>().is_err());
        for c in 0..=u16::MAX {
            assert_eq!(StatusCode::from_code(c).code(), c);
            assert_eq!(AlertCode::from_code(c).code(), c);
        }
    }
}
