"""Using a saved model: the ``predict`` command, the HTTP service, the load test.

- :mod:`.model`: ``--model`` (folder or catalog name) → :class:`~.model.Predictor`
  (any format, with the text normalisation recorded in its manifest).
- :mod:`.batch`: chunked scoring of the records that :mod:`quant_sentiment.records`
  (the project's one record reader) streams from files and stdin.
- :mod:`.cli`: ``quant-sentiment predict`` / ``quant-sentiment serve``.
- :mod:`.service`: the FastAPI app (admission before the body is read, disconnect
  watching); :mod:`.parsing`: reading and checking a request before any model work;
  :mod:`.batcher`: the micro-batcher (per-request isolation, queue-depth batches);
  :mod:`.loadtest`: the load-test benchmark.
"""
