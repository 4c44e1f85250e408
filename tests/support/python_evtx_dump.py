"""Prints every record of an EVTX file as one JSON line {"id": ..., "xml": ...}, read by
python-evtx (https://github.com/williballenthin/python-evtx), an EVTX parser written
independently of the Rust evtx crate."""
import json
import sys

import Evtx.Evtx as evtx

with evtx.Evtx(sys.argv[1]) as log:
    for record in log.records():
        print(json.dumps({"id": record.record_num(), "xml": record.xml()}))
