import NIOCore

/// One side of a relay between the tool's connection and the endpoint's: what one side reads, the
/// other writes, counted as it passes. Both channels share an event loop, so the two handlers call
/// each other directly.
///
/// Reads wait while the other side cannot take more (its channel is not writable), so a fast
/// endpoint and a slow tool, or the reverse, hold no more than NIO's write buffer in Airlock. An
/// end of input on one side becomes a shutdown of output on the other (half-close), so protocols
/// that finish one direction first still work; when one channel closes, the other closes after
/// delivering what it already took.
final class EgressRelayHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: EgressRelayHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// Called with the size of every buffer read on this side, once the other side has written it.
    private let counted: (Int) -> Void

    private init(counted: @escaping (Int) -> Void) {
        self.counted = counted
    }

    /// The two ends: install the first on the tool's channel, the second on the endpoint's.
    static func pair(ledger: EgressLedger, entry: EgressLedger.Entry) -> (tool: EgressRelayHandler, endpoint: EgressRelayHandler) {
        let tool = EgressRelayHandler { ledger.count(entry, sent: $0) }
        let endpoint = EgressRelayHandler { ledger.count(entry, received: $0) }
        tool.partner = endpoint
        endpoint.partner = tool
        return (tool, endpoint)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    /// Each read is flushed at once rather than at `channelReadComplete`: bytes a decoder before this
    /// handler hands on when it leaves the pipeline (the ClientHello the SNI check held) come
    /// after the read that carried them has completed, and no later read may ever come.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        partner?.partnerWriteAndFlush(buffer, counted: counted)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClose()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            partner?.partnerShutdownOutput()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
    }

    func read(context: ChannelHandlerContext) {
        if partner?.context?.channel.isWritable ?? false {
            context.read()
        } else {
            pendingRead = true
        }
    }

    /// Counted once written: bytes handed on as a connection is refused or torn down (a
    /// ClientHello that named another server) never reached the other side, and are not counted.
    private func partnerWriteAndFlush(_ buffer: ByteBuffer, counted: @escaping (Int) -> Void) {
        guard let context else { return }
        let size = buffer.readableBytes
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenSuccess { counted(size) }
    }

    /// Half-closes once what was written before is out: NIO escalates a half-close of a channel
    /// whose input has ended to a full close, which would drop the writes still pending.
    private func partnerShutdownOutput() {
        afterPendingWrites { $0.close(mode: .output, promise: nil) }
    }

    /// The other side is gone: this one closes too, after delivering what it already read from it.
    private func partnerClose() {
        afterPendingWrites { $0.close(promise: nil) }
    }

    /// Writes complete in order: when an empty write is done, so is every write before it.
    private func afterPendingWrites(_ action: @escaping (ChannelHandlerContext) -> Void) {
        guard let context else { return }
        let bound = NIOLoopBound((context, action), eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            let (context, action) = bound.value
            action(context)
        }
    }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }
}
