import AirlockPolicy
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOTLS

/// Reads one `CONNECT host:port` from the tool, decides it against the allow-list, resolves and
/// connects on the host, answers 200, checks the TLS ClientHello's server name against the
/// requested name, then hands both channels to a relay and leaves the pipeline. Anything refused
/// gets a 403 naming the reason (or, once the 200 is out, a closed connection) and a record.
///
/// The pipeline it starts in: the HTTP request decoder (leftover bytes forwarded), the response
/// encoder, this handler.
final class EgressConnectHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case awaitingHead
        case awaitingEnd(EgressTarget, EgressLedger.Entry)
        /// Bytes (and an end of input) the tool sent after its request, kept until the relay is in place.
        case connecting(EgressTarget, EgressLedger.Entry, pending: [NIOAny], inputClosed: Bool)
        case relaying
        case refused
    }

    private var state = State.awaitingHead
    private let allowList: EgressAllowList
    private let ledger: EgressLedger
    private let proxy: EgressProxy
    private let decoder: ByteToMessageHandler<HTTPRequestDecoder>
    private let encoder: HTTPResponseEncoder

    init(allowList: EgressAllowList, ledger: EgressLedger, proxy: EgressProxy, decoder: ByteToMessageHandler<HTTPRequestDecoder>, encoder: HTTPResponseEncoder) {
        self.allowList = allowList
        self.ledger = ledger
        self.proxy = proxy
        self.decoder = decoder
        self.encoder = encoder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .awaitingHead:
            guard case let .head(head) = unwrapInboundIn(data) else { return refuse(.malformedRequest, context: context) }
            guard head.method == .CONNECT, let target = EgressTarget(authority: head.uri) else {
                return refuse(.malformedRequest, host: head.uri, context: context)
            }
            switch allowList.decide(target) {
            case let .denied(reason):
                refuse(reason, host: target.host.description, port: target.port, context: context)
            case .allowed:
                state = .awaitingEnd(target, ledger.open(host: target.host.description, port: target.port, allowed: true))
            }
        case let .awaitingEnd(target, entry):
            // A CONNECT's body means nothing here; it is read and dropped.
            guard case .end = unwrapInboundIn(data) else { return }
            state = .connecting(target, entry, pending: [], inputClosed: false)
            // Until the relay is in place, read nothing more than what already arrived.
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            context.pipeline.syncOperations.removeHandler(decoder, promise: nil)
            connect(target, entry, context: context)
        case .connecting(let target, let entry, var pending, let inputClosed):
            // The decoder, removed, hands on what the tool sent after its request, as raw bytes.
            pending.append(data)
            state = .connecting(target, entry, pending: pending, inputClosed: inputClosed)
        case .relaying, .refused:
            return
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, case .inputClosed = event else {
            return context.fireUserInboundEventTriggered(event)
        }
        switch state {
        case .awaitingHead:
            refuse(.malformedRequest, context: context)
        case let .awaitingEnd(_, entry):
            refuse(.malformedRequest, entry: entry, context: context)
        case let .connecting(target, entry, pending, _):
            state = .connecting(target, entry, pending: pending, inputClosed: true)
        case .relaying, .refused:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A connection that ended before asking for anything is an attempt too.
        if case .awaitingHead = state {
            state = .refused
            _ = ledger.open(host: "", port: 0, allowed: false, reason: .malformedRequest)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The decoder could not read the request.
        switch state {
        case .awaitingHead:
            refuse(.malformedRequest, context: context)
        case let .awaitingEnd(_, entry):
            refuse(.malformedRequest, entry: entry, context: context)
        default:
            context.close(promise: nil)
        }
    }

    /// Resolves (a name) and connects on the host; the tool never resolves anything.
    private func connect(_ target: EgressTarget, _ entry: EgressLedger.Entry, context: ChannelHandlerContext) {
        let bootstrap = ClientBootstrap(group: context.eventLoop)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            // Nothing is read from the endpoint before the relay is there to take it.
            .channelOption(ChannelOptions.autoRead, value: false)
            .connectTimeout(proxy.configuration.connectTimeout)
        let connected: EventLoopFuture<any Channel>
        switch target.host {
        case let .name(name):
            connected = bootstrap.connect(host: name, port: target.port)
        case let .address(address):
            do {
                connected = bootstrap.connect(to: try SocketAddress(ipAddress: address.description, port: target.port))
            } catch {
                return refuse(.connectFailed, entry: entry, context: context)
            }
        }
        connected.assumeIsolated().whenComplete { result in
            switch result {
            case let .success(endpoint):
                guard context.channel.isActive, self.proxy.adopt(endpoint: endpoint) else {
                    endpoint.close(promise: nil)
                    return
                }
                self.established(target, entry, endpoint: endpoint, context: context)
            case let .failure(error):
                // NIO reports a name that resolved to nothing as a connection error with no
                // connection attempt in it.
                let unresolved = (error as? NIOConnectionError).map { $0.connectionErrors.isEmpty } ?? false
                self.refuse(unresolved ? .resolveFailed : .connectFailed, entry: entry, context: context)
            }
        }
    }

    private func established(_ target: EgressTarget, _ entry: EgressLedger.Entry, endpoint: any Channel, context: ChannelHandlerContext) {
        guard case let .connecting(_, _, pending, inputClosed) = state else {
            endpoint.close(promise: nil)
            return
        }
        state = .relaying
        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "0"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)

        let relay = EgressRelayHandler.pair(ledger: ledger, entry: entry)
        do {
            try endpoint.pipeline.syncOperations.addHandler(relay.endpoint)
            context.pipeline.syncOperations.removeHandler(encoder, promise: nil)
            let endpointReads = NIOLoopBound(endpoint, eventLoop: context.eventLoop)
            if case .name = target.host {
                let ledger = self.ledger
                let toolChannel = NIOLoopBound(context.channel, eventLoop: context.eventLoop)
                // Nothing flows either way until the ClientHello names the server the CONNECT named.
                let sni = SNIHandler { result in
                    let serverName: String? = if case let .hostname(name) = result { name } else { nil }
                    guard target.acceptsServerName(serverName) else {
                        ledger.deny(entry, .sniMismatch)
                        toolChannel.value.close(promise: nil)
                        endpointReads.value.close(promise: nil)
                        return toolChannel.value.eventLoop.makeFailedFuture(ChannelError.inappropriateOperationForState)
                    }
                    endpointReads.value.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
                    return toolChannel.value.eventLoop.makeSucceededVoidFuture()
                }
                try context.pipeline.syncOperations.addHandler(ByteToMessageHandler(sni), position: .after(self))
                try context.pipeline.syncOperations.addHandler(relay.tool, position: .last)
            } else {
                try context.pipeline.syncOperations.addHandler(relay.tool, position: .after(self))
                endpoint.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
            }
        } catch {
            context.close(promise: nil)
            endpoint.close(promise: nil)
            return
        }
        // What the tool sent after its request goes through the new handlers, then reading resumes.
        for data in pending { context.fireChannelRead(data) }
        if !pending.isEmpty { context.fireChannelReadComplete() }
        if inputClosed { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        context.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func refuse(_ reason: EgressDenialReason, host: String = "", port: Int = 0, context: ChannelHandlerContext) {
        refuse(reason, entry: ledger.open(host: host, port: port, allowed: false, reason: reason), context: context)
    }

    private func refuse(_ reason: EgressDenialReason, entry: EgressLedger.Entry, context: ChannelHandlerContext) {
        ledger.deny(entry, reason)
        state = .refused
        guard context.channel.isActive else { return }
        var body = context.channel.allocator.buffer(capacity: 64)
        body.writeString("Airlock egress refused this connection: \(reason.rawValue)\n")
        let head = HTTPResponseHead(
            version: .http1_1, status: .forbidden,
            headers: ["Content-Type": "text/plain", "Content-Length": "\(body.readableBytes)", "Connection": "close", "X-Airlock-Egress": reason.rawValue])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
