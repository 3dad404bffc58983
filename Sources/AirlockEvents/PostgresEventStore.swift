import Foundation
import Logging

/// The audit table in PostgreSQL, through libpq: for deployments where several hosts share one trail.
///
/// One connection, used on one thread; appends that arrive together share one transaction. A lost
/// connection is re-established within the retry window of the call that found it lost; retrying an
/// append whose commit acknowledgement was lost cannot write its events twice, because `event_id` is
/// unique. Across processes, appends take a transaction-scoped advisory lock, so ids become visible in
/// commit order and a reader's `WHERE id > cursor` never skips a row.
public final class PostgresEventStore: EventStore {
    public let location: String
    private let session: Session
    private let committer: GroupCommitter

    /// Connects and brings the schema up to date (see `PostgresEventStore.migrations`).
    ///
    /// - Parameters:
    ///   - connection: anything libpq accepts: `host=db user=airlock dbname=audit sslmode=require`,
    ///     `postgresql://airlock@db:5432/audit`, or `""` for the `PG*` variables alone.
    ///   - retryWindow: how long one call keeps reconnecting (50 ms doubling to 1 s between tries)
    ///     before it fails.
    /// - Throws: `EventStoreError` naming the server ("PostgreSQL at postgresql://… is unreachable: …")
    ///   when it cannot be reached within `retryWindow` or the migration fails.
    public init(
        connection: String, logger: Logger = Logger(label: "airlock.events.postgres"), retryWindow: Duration = .seconds(5)
    ) async throws(EventStoreError) {
        let session = Session(connectionString: connection, logger: logger, retryWindow: retryWindow)
        let committer = GroupCommitter(name: "airlock.events.postgres") { records throws(EventStoreError) in
            try session.append(records)
        }
        do {
            location = try await committer.perform { () throws(EventStoreError) -> String in try session.open() }
        } catch {
            committer.close()
            throw error
        }
        self.session = session
        self.committer = committer
    }

    deinit { committer.close() }

    public func appendReportingOutcomes(_ records: [EventRecord]) async throws(EventStoreError) -> [AppendOutcome] {
        try await committer.append(records)
    }

    public func chainLinks(afterID: Int64, limit: Int) async throws(EventStoreError) -> [ChainLink] {
        try await committer.perform { [session] () throws(EventStoreError) -> [ChainLink] in try session.chainLinks(afterID: afterID, limit: limit) }
    }

    public func events(matching query: EventQuery) async throws(EventStoreError) -> [StoredEvent] {
        try await committer.perform { [session] () throws(EventStoreError) -> [StoredEvent] in try session.events(matching: query) }
    }

    public func unfinishedInvocations() async throws(EventStoreError) -> [StoredEvent] {
        try await committer.perform { [session] () throws(EventStoreError) -> [StoredEvent] in try session.unfinishedInvocations() }
    }

    public func close() async {
        _ = try? await committer.perform { [session] in session.disconnect() }
        committer.close()
    }
}

extension PostgresEventStore: ToolRegistryStore {
    public func register(_ tool: RegisteredTool, limit: Int) async throws(EventStoreError) -> RegistrationOutcome {
        let session = self.session
        let event = EventRecord(tool.registeredEvent)
        return try await committer.perform { () throws(EventStoreError) in try session.register(tool, limit: limit, event: event) }
    }

    public func registeredTools(tenantID: String) async throws(EventStoreError) -> [RegisteredTool] {
        let session = self.session
        return try await committer.perform { () throws(EventStoreError) in try session.registeredTools(tenantID: tenantID) }
    }

    public func removeRegisteredTool(name: String, tenantID: String) async throws(EventStoreError) -> Bool {
        let session = self.session
        return try await committer.perform { () throws(EventStoreError) in try session.removeRegisteredTool(name: name, tenantID: tenantID) }
    }
}

extension PostgresEventStore {
    /// Held by every migration, so that processes opening the same database at once migrate it once.
    static let migrationLockKey: Int64 = 0x6169_726C_6F63_6B01  // "airlock" 01
    /// Held by every append from BEGIN to COMMIT: ids are drawn and made visible one transaction at a time.
    static let appendLockKey: Int64 = 0x6169_726C_6F63_6B02  // "airlock" 02

    /// Schema versions, applied in order, each once, recorded in `airlock_schema_migrations`. Append
    /// new versions; never edit one that shipped. Every statement tolerates objects that already exist:
    /// the gateway may have created `gateway_events` itself.
    static let migrations: [(version: Int, sql: String)] = [
        (
            1,
            """
            CREATE TABLE IF NOT EXISTS gateway_events (
                id BIGSERIAL PRIMARY KEY,
                event_type TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                payload JSONB NOT NULL
            );
            CREATE INDEX IF NOT EXISTS gateway_events_event_type_created_at_idx ON gateway_events (event_type, created_at);
            CREATE INDEX IF NOT EXISTS gateway_events_created_at_idx ON gateway_events (created_at);
            CREATE INDEX IF NOT EXISTS gateway_events_execution_id_idx ON gateway_events ((payload->>'execution_id'));
            CREATE UNIQUE INDEX IF NOT EXISTS gateway_events_event_id_key ON gateway_events ((payload->>'event_id'));
            CREATE OR REPLACE FUNCTION gateway_events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'gateway_events is append-only' USING DETAIL = TG_OP || ' refused';
            END;
            $$;
            DROP TRIGGER IF EXISTS gateway_events_append_only ON gateway_events;
            CREATE TRIGGER gateway_events_append_only BEFORE UPDATE OR DELETE ON gateway_events
                FOR EACH ROW EXECUTE FUNCTION gateway_events_reject_change();
            DROP TRIGGER IF EXISTS gateway_events_no_truncate ON gateway_events;
            CREATE TRIGGER gateway_events_no_truncate BEFORE TRUNCATE ON gateway_events
                FOR EACH STATEMENT EXECUTE FUNCTION gateway_events_reject_change();
            """
        ),
        (
            2,
            """
            CREATE TABLE IF NOT EXISTS airlock_cli_tools (
                tenant_id TEXT NOT NULL,
                name TEXT NOT NULL,
                definition JSONB NOT NULL,
                registered_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (tenant_id, name)
            );
            """
        ),
        (
            3,
            """
            CREATE TABLE IF NOT EXISTS airlock_open_invocations (
                execution_id TEXT PRIMARY KEY,
                started_id BIGINT NOT NULL
            );
            INSERT INTO airlock_open_invocations (execution_id, started_id)
                SELECT started.payload->>'execution_id', started.id FROM gateway_events AS started
                WHERE started.event_type = 'CliToolInvocationStarted' AND started.payload->>'execution_id' IS NOT NULL
                  AND NOT EXISTS (
                      SELECT 1 FROM gateway_events AS completed
                      WHERE completed.payload->>'execution_id' = started.payload->>'execution_id'
                        AND completed.event_type = 'CliToolInvocationCompleted')
                ON CONFLICT DO NOTHING;
            """
        ),
        (
            // One append is one statement, one round trip: in its own (implicit) transaction, or in the
            // caller's. The append lock is taken before any id is drawn and held until the commit.
            // Returns one id per input row, in input order: the new row's, or the one the event_id was
            // stored as before (a redelivery, a duplicate in the batch).
            4,
            """
            CREATE OR REPLACE FUNCTION airlock_append_events(
                p_types text[], p_created_at timestamptz[], p_payloads jsonb, p_event_ids text[], p_lock_timeout text
            ) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM set_config('lock_timeout', p_lock_timeout, true);
                PERFORM pg_advisory_xact_lock(\(appendLockKey));
                RETURN QUERY
                WITH input AS (
                    SELECT n, p_types[n] AS event_type, p_created_at[n] AS created_at, p_event_ids[n] AS event_id,
                           (p_payloads->(n - 1)) || jsonb_build_object('event_id', p_event_ids[n]) AS payload
                    FROM generate_subscripts(p_types, 1) AS n
                ), inserted AS (
                    INSERT INTO gateway_events (event_type, created_at, payload)
                    SELECT input.event_type, input.created_at, input.payload FROM input ORDER BY input.n
                    ON CONFLICT ((payload->>'event_id')) DO NOTHING
                    RETURNING gateway_events.id, gateway_events.event_type, gateway_events.payload
                ), opened AS (
                    INSERT INTO airlock_open_invocations (execution_id, started_id)
                    SELECT started.payload->>'execution_id', started.id FROM inserted AS started
                    WHERE started.event_type = 'CliToolInvocationStarted' AND started.payload->>'execution_id' IS NOT NULL
                      AND NOT EXISTS (
                          SELECT 1 FROM inserted AS completed
                          WHERE completed.event_type = 'CliToolInvocationCompleted'
                            AND completed.payload->>'execution_id' = started.payload->>'execution_id')
                    ON CONFLICT DO NOTHING
                ), closed AS (
                    DELETE FROM airlock_open_invocations
                    WHERE airlock_open_invocations.execution_id IN (
                        SELECT inserted.payload->>'execution_id' FROM inserted WHERE inserted.event_type = 'CliToolInvocationCompleted')
                )
                -- The stored row is looked up (through the unique index) only for rows not inserted.
                SELECT coalesce(
                    inserted.id,
                    (SELECT stored.id FROM gateway_events AS stored WHERE stored.payload->>'event_id' = input.event_id))
                FROM input LEFT JOIN inserted ON inserted.payload->>'event_id' = input.event_id
                ORDER BY input.n;
            END;
            $$;
            """
        ),
        (
            // The audit chain (see `AuditChain`): the column, the hash as SQL (what appends use, and
            // what an operator can check a row with in psql), and the append function that links each
            // row under the append lock. One Completed per execution: a partial unique index, built
            // whatever the table holds (repeats written before it are left out by id).
            // `airlock_append_events` stays, for processes of an earlier version sharing this
            // database, and appends through the chain too.
            5,
            """
            ALTER TABLE gateway_events ADD COLUMN IF NOT EXISTS chain_hash TEXT;
            DO $do$
            DECLARE
                repeated bigint[];
            BEGIN
                SELECT array_agg(c.id ORDER BY c.id) INTO repeated FROM gateway_events AS c
                 WHERE c.event_type = 'CliToolInvocationCompleted' AND c.payload->>'execution_id' IS NOT NULL
                   AND EXISTS (SELECT 1 FROM gateway_events AS f
                                WHERE f.event_type = 'CliToolInvocationCompleted' AND f.id < c.id
                                  AND f.payload->>'execution_id' = c.payload->>'execution_id');
                EXECUTE 'CREATE UNIQUE INDEX IF NOT EXISTS gateway_events_one_completion_key ON gateway_events ((payload->>''execution_id''))'
                     || ' WHERE event_type = ''CliToolInvocationCompleted'''
                     || CASE WHEN repeated IS NULL THEN '' ELSE format(' AND id <> ALL (%L::bigint[])', repeated) END;
            END
            $do$;
            CREATE OR REPLACE FUNCTION airlock_chain_field(p_text text) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
                SELECT int8send(octet_length(convert_to(p_text, 'UTF8'))::bigint) || convert_to(p_text, 'UTF8')
            $$;
            CREATE OR REPLACE FUNCTION airlock_chain_hash(
                p_previous text, p_id bigint, p_event_type text, p_created_at timestamptz, p_payload text
            ) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
                SELECT encode(sha256(
                    airlock_chain_field('\(AuditChain.version)') || airlock_chain_field(coalesce(p_previous, ''))
                    || airlock_chain_field(p_id::text) || airlock_chain_field(p_event_type)
                    || airlock_chain_field(to_char(p_created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'))
                    || airlock_chain_field(p_payload)), 'hex')
            $$;
            CREATE OR REPLACE FUNCTION airlock_append_chain(
                p_types text[], p_created_at timestamptz[], p_payloads jsonb, p_event_ids text[], p_lock_timeout text
            ) RETURNS TABLE (row_id bigint, row_outcome text) LANGUAGE plpgsql
            -- Planned at each call: a generic plan cached while the table was small scans it whole
            -- for the event ids at every later call.
            SET plan_cache_mode = force_custom_plan AS $$
            DECLARE
                v_count integer := coalesce(array_length(p_types, 1), 0);
                v_head text;
                v_sequence regclass;
                v_ids bigint[] := '{}';
                v_outcomes text[] := '{}';
                v_hashes text[] := '{}';
                v_stored bigint[];
                v_first integer[];
                v_completed bigint[];
                v_first_completion integer[];
                v_id bigint;
                v_text bytea;
            BEGIN
                IF v_count = 0 THEN
                    RETURN;
                END IF;
                PERFORM set_config('lock_timeout', p_lock_timeout, true);
                PERFORM pg_advisory_xact_lock(\(appendLockKey));
                -- Under the lock: the head cannot move until this transaction commits.
                SELECT e.chain_hash INTO v_head FROM gateway_events AS e WHERE e.chain_hash IS NOT NULL ORDER BY e.id DESC LIMIT 1;
                v_sequence := pg_get_serial_sequence('gateway_events', 'id')::regclass;
                -- Per record: its event_id's stored row, its first occurrence in the batch, and for a
                -- Completed the execution's stored Completed and its first Completed in the batch. Only
                -- for a batch that may need it: the common one is of new events and holds no Completed.
                IF 'CliToolInvocationCompleted' = ANY (p_types)
                   OR EXISTS (SELECT 1 FROM gateway_events AS s WHERE s.payload->>'event_id' = ANY (p_event_ids))
                   OR (SELECT count(DISTINCT e) FROM unnest(p_event_ids) AS e) < v_count THEN
                    SELECT array_agg(a.stored ORDER BY a.n), array_agg(a.first ORDER BY a.n),
                           array_agg(a.completed ORDER BY a.n), array_agg(a.first_completion ORDER BY a.n)
                      INTO v_stored, v_first, v_completed, v_first_completion
                      FROM (
                        SELECT i.n,
                               (SELECT s.id FROM gateway_events AS s WHERE s.payload->>'event_id' = i.event_id) AS stored,
                               min(i.n) OVER (PARTITION BY i.event_id) AS first,
                               CASE WHEN i.completion IS NOT NULL THEN
                                   (SELECT min(c.id) FROM gateway_events AS c
                                     WHERE c.payload->>'execution_id' = i.completion AND c.event_type = 'CliToolInvocationCompleted')
                               END AS completed,
                               min(i.n) OVER (PARTITION BY i.completion) AS first_completion
                          FROM (SELECT k AS n, p_event_ids[k] AS event_id,
                                       CASE WHEN p_types[k] = 'CliToolInvocationCompleted' THEN p_payloads->(k - 1)->>'execution_id' END AS completion
                                  FROM generate_subscripts(p_types, 1) AS k) AS i
                      ) AS a;
                END IF;
                FOR n IN 1..v_count LOOP
                    IF v_stored[n] IS NOT NULL THEN
                        v_ids[n] := v_stored[n];
                        v_outcomes[n] := 'stored';
                    ELSIF v_first[n] < n THEN
                        v_ids[n] := v_ids[v_first[n]];
                        v_outcomes[n] := CASE v_outcomes[v_first[n]] WHEN 'appended' THEN 'stored' ELSE v_outcomes[v_first[n]] END;
                    ELSIF v_completed[n] IS NOT NULL THEN
                        v_ids[n] := v_completed[n];
                        v_outcomes[n] := 'refused';
                    ELSIF p_types[n] = 'CliToolInvocationCompleted' AND v_first_completion[n] < n THEN
                        v_ids[n] := v_ids[v_first_completion[n]];
                        v_outcomes[n] := 'refused';
                    ELSE
                        v_id := nextval(v_sequence);
                        -- airlock_chain_hash written out in one expression: here a call of it costs more than the hash.
                        v_text := convert_to(((p_payloads->(n - 1)) || jsonb_build_object('event_id', p_event_ids[n]))::text, 'UTF8');
                        v_head := encode(sha256(
                            int8send(octet_length(convert_to('\(AuditChain.version)', 'UTF8'))::bigint) || convert_to('\(AuditChain.version)', 'UTF8')
                            || int8send(octet_length(coalesce(v_head, ''))::bigint) || convert_to(coalesce(v_head, ''), 'UTF8')
                            || int8send(octet_length(v_id::text)::bigint) || convert_to(v_id::text, 'UTF8')
                            || int8send(octet_length(convert_to(p_types[n], 'UTF8'))::bigint) || convert_to(p_types[n], 'UTF8')
                            || int8send(octet_length(convert_to(to_char(p_created_at[n] AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), 'UTF8'))::bigint)
                            || convert_to(to_char(p_created_at[n] AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), 'UTF8')
                            || int8send(octet_length(v_text)::bigint) || v_text), 'hex');
                        v_ids[n] := v_id;
                        v_outcomes[n] := 'appended';
                        v_hashes[n] := v_head;
                    END IF;
                END LOOP;
                WITH chained AS (
                    SELECT v_ids[k] AS id, p_types[k] AS event_type, p_created_at[k] AS created_at,
                           (p_payloads->(k - 1)) || jsonb_build_object('event_id', p_event_ids[k]) AS payload, v_hashes[k] AS chain_hash
                      FROM generate_subscripts(p_types, 1) AS k WHERE v_outcomes[k] = 'appended'
                ), inserted AS (
                    INSERT INTO gateway_events (id, event_type, created_at, payload, chain_hash)
                    SELECT chained.id, chained.event_type, chained.created_at, chained.payload, chained.chain_hash FROM chained
                ), opened AS (
                    INSERT INTO airlock_open_invocations (execution_id, started_id)
                    SELECT started.payload->>'execution_id', started.id FROM chained AS started
                    WHERE started.event_type = 'CliToolInvocationStarted' AND started.payload->>'execution_id' IS NOT NULL
                      AND NOT EXISTS (
                          SELECT 1 FROM chained AS completed
                          WHERE completed.event_type = 'CliToolInvocationCompleted'
                            AND completed.payload->>'execution_id' = started.payload->>'execution_id')
                    ON CONFLICT DO NOTHING
                )
                DELETE FROM airlock_open_invocations
                WHERE airlock_open_invocations.execution_id IN (
                    SELECT chained.payload->>'execution_id' FROM chained WHERE chained.event_type = 'CliToolInvocationCompleted');
                RETURN QUERY SELECT v_ids[k], v_outcomes[k] FROM generate_subscripts(p_types, 1) AS k ORDER BY k;
            END;
            $$;
            CREATE OR REPLACE FUNCTION airlock_append_events(
                p_types text[], p_created_at timestamptz[], p_payloads jsonb, p_event_ids text[], p_lock_timeout text
            ) RETURNS SETOF bigint LANGUAGE sql AS $$
                SELECT chain.row_id FROM airlock_append_chain(p_types, p_created_at, p_payloads, p_event_ids, p_lock_timeout) AS chain
            $$;
            """
        ),
    ]

    /// The connection and everything done with it. Used only on the committer's thread.
    private final class Session: @unchecked Sendable {
        let connectionString: String
        let logger: Logger
        let retryWindow: Duration
        var connection: PostgresConnection?
        /// A statement failed for a connection reason: reconnect even if libpq still reports CONNECTION_OK.
        var broken = false
        /// Empty until the first connection attempt resolved it.
        var location = ""
        /// Whether a connection ever worked: a failure before that is a server not reached (a wrong
        /// host, a server not started), not a connection lost, and the log says which.
        var everConnected = false
        /// An outage was logged and the server not reached since: the next success says so, once,
        /// whichever call it is (the failing call may have given up and thrown).
        var outageLogged = false

        init(connectionString: String, logger: Logger, retryWindow: Duration) {
            self.connectionString = connectionString
            self.logger = logger
            self.retryWindow = retryWindow
        }

        func open() throws(EventStoreError) -> String {
            try withConnection { connection throws(PostgresError) in try migrate(connection) }
            let synchronousCommit = try? withConnection { connection throws(PostgresError) in
                try connection.execute("SHOW synchronous_commit").rows.first?.first ?? nil
            }
            if synchronousCommit == "off" {
                logger.warning(
                    "synchronous_commit is off on this server: an acknowledged event can be lost in a server crash",
                    metadata: ["location": "\(location)"])
            }
            return location
        }

        func disconnect() { connection = nil }

        /// "PostgreSQL at postgresql://…", for messages.
        private var server: String { location.isEmpty ? "PostgreSQL" : "PostgreSQL at \(location)" }

        // MARK: Schema

        private func migrate(_ connection: PostgresConnection) throws(PostgresError) {
            try transaction(connection, begin: "SELECT pg_advisory_xact_lock(\(migrationLockKey))") { () throws(PostgresError) in
                _ = try connection.execute(
                    """
                    CREATE TABLE IF NOT EXISTS airlock_schema_migrations (
                        version INTEGER PRIMARY KEY,
                        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                    )
                    """)
                let applied = Set(try connection.execute("SELECT version FROM airlock_schema_migrations").rows.compactMap { $0[0].flatMap(Int.init) })
                for migration in migrations where !applied.contains(migration.version) {
                    _ = try connection.executeScript(migration.sql)
                    _ = try connection.execute("INSERT INTO airlock_schema_migrations (version) VALUES ($1::integer)", [String(migration.version)])
                    logger.info("migrated the event schema", metadata: ["location": "\(location)", "version": "\(migration.version)"])
                }
            }
        }

        // MARK: Appends

        /// One round trip: `airlock_append_chain` in its own transaction, committed when it returns.
        func append(_ records: [EventRecord]) throws(EventStoreError) -> [AppendOutcome] {
            try withConnection { connection throws(PostgresError) in try insert(records, connection) }
        }

        /// Calls `airlock_append_chain`; the payloads travel as one JSON array (no escaping), and
        /// the function sets each payload's `event_id` from the record, so the unique index always
        /// holds the key the caller retries with. The function links each new row into the chain
        /// under the append lock (migration 5).
        private func insert(_ records: [EventRecord], _ connection: PostgresConnection) throws(PostgresError) -> [AppendOutcome] {
            var payloads = "["
            payloads.reserveCapacity(records.reduce(2) { $0 + $1.payload.utf8.count + 1 })
            for (index, record) in records.enumerated() {
                if index > 0 { payloads += "," }
                payloads += record.payload
            }
            payloads += "]"
            let rows = try connection.executePrepared(
                "airlock_append_chain",
                "SELECT row_id, row_outcome FROM airlock_append_chain($1::text[], $2::timestamptz[], $3::jsonb, $4::text[], $5)",
                [
                    arrayLiteral(records.map(\.type.rawValue)), arrayLiteral(records.map { Timestamp.rfc3339($0.createdAt) }), payloads,
                    // The lock timeout: a writer elsewhere that holds the append lock and hangs must
                    // not hang us past the retry window.
                    arrayLiteral(records.map(\.eventID)), "\(max(1, retryWindow.milliseconds))ms",
                ]
            ).rows
            guard rows.count == records.count else {
                throw PostgresError(message: "the append returned \(rows.count) ids for \(records.count) events", connectionLost: false)
            }
            return try zip(records, rows).map { record, row throws(PostgresError) in
                guard let id = row[0].flatMap({ Int64($0) }) else {
                    throw PostgresError(message: "event \(record.eventID) was neither inserted nor found", connectionLost: false)
                }
                switch row[1] {
                case "appended": return AppendOutcome(id: id, kind: .appended)
                case "stored": return AppendOutcome(id: id, kind: .alreadyStored)
                case "refused": return AppendOutcome(id: id, kind: .refusedSecondCompletion)
                case let other:
                    throw PostgresError(message: "the append answered '\(other ?? "NULL")' for event \(record.eventID)", connectionLost: false)
                }
            }
        }

        // MARK: Registered tools

        /// The tool and its `CliToolRegistered` event in one transaction (the append lock held, as
        /// for any append); the tenant's rows locked so that the limit holds under concurrency.
        func register(_ tool: RegisteredTool, limit: Int, event: EventRecord) throws(EventStoreError) -> RegistrationOutcome {
            let begin = "SET LOCAL lock_timeout = '\(max(1, retryWindow.milliseconds))ms'; SELECT pg_advisory_xact_lock(\(appendLockKey))"
            return try withConnection { connection throws(PostgresError) in
                try transaction(connection, begin: begin) { () throws(PostgresError) -> RegistrationOutcome in
                    let names = try connection.execute(
                        "SELECT name FROM airlock_cli_tools WHERE tenant_id = $1 FOR UPDATE", [tool.tenantId]
                    ).rows.compactMap { $0[0] }
                    if names.contains(tool.name) { return .nameTaken }
                    guard names.count < limit else { return .limitReached }
                    _ = try connection.execute(
                        "INSERT INTO airlock_cli_tools (tenant_id, name, definition, registered_at) VALUES ($1, $2, $3::jsonb, $4::timestamptz)",
                        [tool.tenantId, tool.name, tool.definitionJSON, Timestamp.rfc3339(tool.registeredAt)])
                    _ = try insert([event], connection)
                    return .registered
                }
            }
        }

        func registeredTools(tenantID: String) throws(EventStoreError) -> [RegisteredTool] {
            let rows = try withConnection { connection throws(PostgresError) in
                try connection.execute("SELECT definition::text FROM airlock_cli_tools WHERE tenant_id = $1 ORDER BY name", [tenantID]).rows
            }
            var tools: [RegisteredTool] = []
            for row in rows { tools.append(try RegisteredTool(definitionJSON: row[0] ?? "")) }
            return tools
        }

        func removeRegisteredTool(name: String, tenantID: String) throws(EventStoreError) -> Bool {
            try withConnection { connection throws(PostgresError) in
                !(try connection.execute(
                    "DELETE FROM airlock_cli_tools WHERE tenant_id = $1 AND name = $2 RETURNING name", [tenantID, name]
                ).rows.isEmpty)
            }
        }

        // MARK: Reads

        /// The chain's fields as `AuditChain` hashes them: `created_at` in UTC at microseconds,
        /// the payload as its column's text.
        func chainLinks(afterID: Int64, limit: Int) throws(EventStoreError) -> [ChainLink] {
            let rows = try withConnection { connection throws(PostgresError) in
                try connection.execute(
                    """
                    SELECT id, event_type, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), payload::text, chain_hash
                      FROM gateway_events WHERE id > $1::bigint ORDER BY id LIMIT $2::bigint
                    """, [String(afterID), String(max(0, limit))]
                ).rows
            }
            var links: [ChainLink] = []
            links.reserveCapacity(rows.count)
            for row in rows {
                guard let id = row[0].flatMap({ Int64($0) }) else {
                    throw EventStoreError("\(server): unreadable gateway_events row \(row.map { $0 ?? "NULL" })")
                }
                links.append(ChainLink(id: id, eventType: row[1] ?? "", createdAt: row[2] ?? "", payload: row[3] ?? "", chainHash: row[4]))
            }
            return links
        }

        func events(matching query: EventQuery) throws(EventStoreError) -> [StoredEvent] {
            var conditions: [String] = []
            var parameters: [String?] = []
            func bind(_ value: String) -> String {
                parameters.append(value)
                return "$\(parameters.count)"
            }
            if let afterID = query.afterID { conditions.append("id > \(bind(String(afterID)))::bigint") }
            if !query.types.isEmpty { conditions.append("event_type = ANY(\(bind(arrayLiteral(query.types.map(\.rawValue))))::text[])") }
            if let executionID = query.executionID { conditions.append("payload->>'execution_id' = \(bind(executionID))") }
            if let tenantID = query.tenantID { conditions.append("payload->>'tenant_id' = \(bind(tenantID))") }
            if let since = query.since { conditions.append("created_at >= \(bind(Timestamp.rfc3339(since)))::timestamptz") }
            let sql = """
                SELECT id, event_type, created_at, payload::text FROM gateway_events
                \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
                ORDER BY id LIMIT \(bind(String(max(0, query.limit))))::bigint
                """
            return try storedEvents(sql, parameters)
        }

        func unfinishedInvocations() throws(EventStoreError) -> [StoredEvent] {
            // The small table appends keep, not a scan of every Started event ever written.
            try storedEvents(
                """
                SELECT started.id, started.event_type, started.created_at, started.payload::text
                FROM airlock_open_invocations AS open JOIN gateway_events AS started ON started.id = open.started_id
                ORDER BY started.id
                """, [])
        }

        private func storedEvents(_ sql: String, _ parameters: [String?]) throws(EventStoreError) -> [StoredEvent] {
            let rows = try withConnection { connection throws(PostgresError) in try connection.execute(sql, parameters).rows }
            var events: [StoredEvent] = []
            events.reserveCapacity(rows.count)
            for row in rows {
                guard let id = row[0].flatMap({ Int64($0) }), let type = row[1], let createdText = row[2], let payload = row[3],
                    let createdAt = PostgresEventStore.parseTimestamptz(createdText)
                else {
                    throw EventStoreError("\(server): unreadable gateway_events row \(row.map { $0 ?? "NULL" })")
                }
                events.append(StoredEvent(id: id, eventType: type, createdAt: createdAt, payload: payload))
            }
            return events
        }

        // MARK: Connection

        /// Runs `body` on a working connection. A lost connection is re-established and `body` run again
        /// (the whole transaction), with backoff, until the retry window ends.
        private func withConnection<T>(_ body: (PostgresConnection) throws(PostgresError) -> T) throws(EventStoreError) -> T {
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: retryWindow)
            var delay = Duration.milliseconds(50)
            while true {
                let failure: PostgresError
                do {
                    let connection = try connected()
                    if outageLogged {
                        logger.notice(everConnected ? "reconnected to PostgreSQL" : "connected to PostgreSQL", metadata: ["location": "\(location)"])
                        outageLogged = false
                    }
                    everConnected = true
                    return try body(connection)
                } catch {
                    guard error.connectionLost else {
                        let why = error.sqlState == "55P03" ? " (another writer held the append lock longer than the retry window)" : ""
                        throw EventStoreError("\(server): \(error.message)\(why)")
                    }
                    failure = error
                    broken = true
                }
                if !outageLogged {
                    logger.warning(
                        everConnected ? "PostgreSQL connection lost; reconnecting" : "cannot connect to PostgreSQL; retrying",
                        metadata: ["location": "\(location)", "error": "\(failure.message)"])
                    outageLogged = true
                }
                guard clock.now.advanced(by: delay) < deadline else {
                    throw EventStoreError("\(server) is unreachable: \(failure.message)")
                }
                Thread.sleep(forTimeInterval: Double(delay.milliseconds) / 1000)
                delay = min(delay * 2, .seconds(1))
            }
        }

        /// The connection, (re)connected and with the session set up.
        private func connected() throws(PostgresError) -> PostgresConnection {
            let connection: PostgresConnection
            if let existing = self.connection {
                if existing.isConnected && !broken {
                    // A transaction left open by an error path must not swallow the next statements.
                    if existing.inTransaction { _ = try existing.executeScript("ROLLBACK") }
                    return existing
                }
                existing.reset()
                broken = false
                connection = existing
            } else {
                connection = try PostgresConnection(connectionString, defaults: connectionDefaults)
                self.connection = connection
                location = connection.location
            }
            guard connection.isConnected else {
                throw PostgresError(message: connection.errorMessage, connectionLost: true)
            }
            // Timestamps come back as `2026-11-23 10:00:00.123+00`, whatever the server's settings;
            // text as UTF-8, the bytes the audit chain hashes (`airlock_chain_field`). A
            // process of ours that stalls inside a transaction (stopped, cut off) loses its session
            // rather than holding the append lock for every writer.
            _ = try connection.executeScript(
                "SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO, YMD'; SET client_encoding TO 'UTF8'; SET idle_in_transaction_session_timeout TO '30s'")
            return connection
        }

        /// A connect that hangs (a silent host) must not outlast the retry window; the user's own
        /// `connect_timeout` or `PGCONNECT_TIMEOUT` wins.
        private var connectionDefaults: [(String, String)] {
            var defaults = [("fallback_application_name", "airlock")]
            if ProcessInfo.processInfo.environment["PGCONNECT_TIMEOUT"] == nil {
                defaults.append(("connect_timeout", String(max(2, retryWindow.components.seconds + 1))))
            }
            return defaults
        }

        /// BEGIN and the `begin` statements (one round trip), `body`, COMMIT; ROLLBACK when `body` fails
        /// and the connection still works.
        private func transaction<T>(_ connection: PostgresConnection, begin: String, _ body: () throws(PostgresError) -> T)
            throws(PostgresError) -> T
        {
            _ = try connection.executeScript("BEGIN; " + begin)
            do throws(PostgresError) {
                let result = try body()
                let commit = try connection.executeScript("COMMIT")
                guard commit.commandTag == "COMMIT" else {
                    throw PostgresError(message: "the transaction was rolled back (\(commit.commandTag))", connectionLost: false)
                }
                return result
            } catch {
                if !error.connectionLost && connection.inTransaction { _ = try? connection.executeScript("ROLLBACK") }
                throw error
            }
        }
    }

    /// `{"a","b"}`: a PostgreSQL array literal, each element quoted.
    /// Built byte by byte: Foundation's `replacingOccurrences` bridges every element through NSString,
    /// on the committer's thread, on every commit's critical path.
    static func arrayLiteral(_ values: [String]) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(values.reduce(2) { $0 + $1.utf8.count + 3 })
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "\""))
            for byte in value.utf8 {
                if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\"") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A `timestamptz` as PostgreSQL writes it with DateStyle ISO: `2026-11-23 10:00:00.123+00`, or with
    /// an offset `+05:30`, `-03:30:15`; fractional digits optional.
    static func parseTimestamptz(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        guard parts.count == 2 else { return nil }  // also "infinity" and BC dates
        let date = parts[0].split(separator: "-").compactMap { Int($0) }
        guard date.count == 3, let signIndex = parts[1].lastIndex(where: { $0 == "+" || $0 == "-" }) else { return nil }
        let time = parts[1][..<signIndex]
        let offset = parts[1][parts[1].index(after: signIndex)...].split(separator: ":").compactMap { Int($0) }
        let clock = time.split(separator: ":")
        guard clock.count == 3, let hour = Int(clock[0]), let minute = Int(clock[1]), let seconds = Double(clock[2]),
            (1...3).contains(offset.count)
        else { return nil }
        var fields = tm()
        fields.tm_year = Int32(date[0] - 1900)
        fields.tm_mon = Int32(date[1] - 1)
        fields.tm_mday = Int32(date[2])
        fields.tm_hour = Int32(hour)
        fields.tm_min = Int32(minute)
        let offsetSeconds = offset.enumerated().reduce(0) { sum, element in sum + element.element * [3600, 60, 1][element.offset] }
        let sign = parts[1][signIndex] == "-" ? -1 : 1
        let local = Double(timegm(&fields)) + seconds
        return Date(timeIntervalSince1970: local - Double(sign * offsetSeconds))
    }
}

extension Duration {
    fileprivate var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
