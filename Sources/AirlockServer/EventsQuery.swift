import AirlockEvents
import AirlockPolicy
import Hummingbird

/// `GET /v1/events?after_id=&type=&execution_id=&limit=`, for one tenant (`X-Airlock-Tenant` or
/// `tenant_id`): a tenant reads only its own events.
struct EventsQuery {
    static let parameters: Set<String> = ["after_id", "type", "execution_id", "limit", "tenant_id"]
    static let defaultLimit = 100
    static let maximumLimit = 1000

    var query: EventQuery

    init(_ request: Request, policy: Policy) throws(APIError) {
        let parameters = request.uri.queryParameters
        for (key, _) in parameters where !Self.parameters.contains(String(key)) {
            throw APIError.invalid(APIError.fieldName(String(key)), "unknown query parameter; expected: \(Self.parameters.sorted().joined(separator: ", "))")
        }
        let tenant = try Self.tenant(of: request, policy: policy)

        var afterID: Int64?
        if let text = parameters["after_id"] {
            guard let value = Int64(text), value >= 0 else { throw APIError.invalid("after_id", "must be a whole number, 0 or more") }
            afterID = value
        }
        var types: [EventType] = []
        for text in parameters[values: "type"] {
            guard let type = EventType(rawValue: String(text)) else {
                throw APIError.invalid("type", "unknown event type '\(text)'; one of \(EventType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            types.append(type)
        }
        var limit = Self.defaultLimit
        if let text = parameters["limit"] {
            guard let value = Int(text), (1...Self.maximumLimit).contains(value) else {
                throw APIError.invalid("limit", "must be a whole number from 1 to \(Self.maximumLimit)")
            }
            limit = value
        }
        let executionID = parameters["execution_id"].map(String.init)
        if let executionID, executionID.isEmpty { throw APIError.invalid("execution_id", "must not be empty") }
        query = EventQuery(afterID: afterID, types: types, executionID: executionID, tenantID: tenant, limit: limit)
    }

    /// The tenant a read is for: the `X-Airlock-Tenant` header or the `tenant_id` parameter (the same
    /// one if both), which the policy must have.
    static func tenant(of request: Request, policy: Policy) throws(APIError) -> String {
        let header = request.headers[.airlockTenant]
        let parameter = request.uri.queryParameters["tenant_id"].map(String.init)
        if let header, let parameter, header != parameter {
            throw APIError.invalid("tenant_id", "the X-Airlock-Tenant header and the tenant_id parameter name different tenants")
        }
        guard let tenant = header ?? parameter, !tenant.isEmpty else {
            throw APIError.invalid("tenant_id", "name the tenant with the X-Airlock-Tenant header or the tenant_id parameter")
        }
        guard policy.tenants[tenant] != nil else { throw APIError.notFound("tenant_id", "unknown tenant '\(tenant)'") }
        return tenant
    }

    /// `{"events": [{id, event_type, created_at, payload}], "next_after_id"}`; with no events, the
    /// cursor stays where it was.
    static func answer(_ events: [StoredEvent], query: EventQuery) -> JSONValue {
        let items: [JSONValue] = events.map { event in
            .object([
                "id": .integer(event.id), "event_type": .string(event.eventType), "created_at": .string(Timestamp.rfc3339(event.createdAt)),
                "payload": (try? JSONValue.parse(Array(event.payload.utf8))) ?? .string(event.payload),
            ])
        }
        return .object(["events": .array(items), "next_after_id": .integer(events.last?.id ?? query.afterID ?? 0)])
    }
}
