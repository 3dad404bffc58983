import AirlockEvents
import Testing

/// `--events` as operators write it; a value that names no store is refused, saying what is accepted.
struct EventStoreLocationTests {
    @Test(arguments: [
        ("sqlite:var/events.sqlite", EventStoreLocation.sqlite(path: "var/events.sqlite")),
        ("/srv/audit.sqlite", .sqlite(path: "/srv/audit.sqlite")),
        ("postgresql://airlock@db:5432/audit?sslmode=require", .postgres(connection: "postgresql://airlock@db:5432/audit?sslmode=require")),
        ("postgres://db/audit", .postgres(connection: "postgres://db/audit")),
        ("postgresql:host=/run/postgresql dbname=audit", .postgres(connection: "host=/run/postgresql dbname=audit")),
        ("postgresql:", .postgres(connection: "")),
    ])
    func accepted(text: String, location: EventStoreLocation) throws {
        #expect(try EventStoreLocation(parsing: text) == location)
    }

    @Test(arguments: [("", "--events is empty"), ("sqlite:", "needs a path"), ("mysql://db/audit", "unknown event store 'mysql://db/audit'")])
    func refused(text: String, message: String) {
        #expect {
            try EventStoreLocation(parsing: text)
        } throws: { error in
            "\(error)".contains(message) && "\(error)".contains("postgresql://")
                || "\(error)".contains(message) && message == "needs a path"
        }
    }
}
