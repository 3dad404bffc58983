import Foundation
import Subprocess

/// The environment the engine CLI runs with: the few variables that say where the engine, its
/// configuration and its storage are, and nothing else of Airlock's own environment.
///
/// What the CLI inherits can reach the container: podman copies the proxy variables into it (its
/// `--http-proxy`, pinned off as well), credentials in Airlock's environment have no business in
/// the engine's, and a variable the CLI does not know today may mean something to its next version.
public enum EngineEnvironment {
    /// Variables passed through when set: search path, home and runtime directories (rootless
    /// podman's storage and configuration), and the engines' own location and configuration
    /// variables. No proxy variable, no credential.
    public static let passedThrough = [
        "PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
        "DBUS_SESSION_BUS_ADDRESS",
        "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF", "CONTAINER_HOST", "CONTAINER_CONNECTION",
        "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_API_VERSION",
    ]

    /// This process's values of `passedThrough`.
    public static var current: [String: String] {
        ProcessInfo.processInfo.environment.filter { passedThrough.contains($0.key) }
    }

    static var subprocess: Environment {
        var variables: [Environment.Key: String] = [:]
        for (name, value) in current { variables[Environment.Key(stringLiteral: name)] = value }
        return .custom(variables)
    }
}
