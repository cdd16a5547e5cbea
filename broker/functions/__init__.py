"""Lambda-style functions: configuration, invocation (sync, async) and event source mappings.

The sans-IO side (decides; takes ``now``; never awaits or runs user code):

- :mod:`.service` -- the operation table (:class:`~.service.LambdaService`), the one way in
- :mod:`.state` -- functions, mappings and concurrency of one account, and shared lookups
- :mod:`.configuration`, :mod:`.invoke`, :mod:`.mapping_api`, :mod:`.observability` -- operations
- :mod:`.async_events` -- the life of an asynchronous invocation (start, retry, destinations)
- :mod:`.model`, :mod:`.mappings`, :mod:`.kinesis_source`, :mod:`.outcome` -- the cores
- :mod:`.handlers` -- the Handler import string format, and loading the callable it names
- :mod:`.shapes`, :mod:`.options` -- request member checks and timestamp forms, tunables

The runtime side (runs what the cores decide, on trio):

- :mod:`.runner` -- :class:`~.runner.FunctionRunner`: invocations, the async dispatcher,
  deliveries; given what it needs by the Broker, it never imports the runtime
- :mod:`.execution`, :mod:`.capture`, :mod:`.context` -- running one handler, capturing its
  output, the context object it receives
- :mod:`.polling`, :mod:`.sqs_poller`, :mod:`.kinesis_poller` -- event source mapping pollers
- :mod:`.workers` -- handlers running in another process
"""
