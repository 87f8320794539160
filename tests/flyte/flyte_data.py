"""Flyte data types through the real flytekit, pandas and pyarrow, against an S3 server (moto).

flytekit uploads and writes inputs.pb exactly as a Flyte task upstream of a wasm task would,
and reads back outputs.pb, downloading what the wasm task uploaded, as a task downstream would.
S3 settings come from FLYTE_AWS_ENDPOINT / FLYTE_AWS_ACCESS_KEY_ID / FLYTE_AWS_SECRET_ACCESS_KEY.

Commands (each prints one line of JSON):
  write-inputs RAW_PREFIX OUT.pb SPEC_JSON
      SPEC = {"name": [KIND, VALUE]}; KIND is
        "datetime" (ISO text), "timedelta" (seconds, float), "file" (text content),
        "dir" ({"name": text, ...}), "dataframe" ({"column": [values], ...}),
        "file-uri" / "dir-uri" (an existing URI, written as is), "str", "int",
        "dataframe-files" ([URI, {"name": text, ...}]: those files uploaded to URI, passed as a
        StructuredDataset, for datasets that are not what they claim);
        ["offload", [KIND, VALUE]] writes that literal to RAW_PREFIX and passes it offloaded
      Uploads go under RAW_PREFIX, as flytekit does for a task's outputs.
  read-outputs OUT_PREFIX KIND
      decodes OUT_PREFIX/outputs.pb (local or s3://) and turns `o0` into the python type of
      KIND, downloading it: a datetime/timedelta as ISO text / seconds; a file as
      {"text", "uri"}; a dir as {"files": {name: text}, "uri"}; a dataframe as
      {"rows", "columns", "sums": {column: sum}, "values": {integer column: [values]}, "uri"};
      "offloaded" says whether outputs.pb
      held `o0` as an offloaded literal (flytekit fetches those from their URI).
"""

import datetime
import json
import os
import sys
import tempfile

import pandas as pd


def _ctx(raw_prefix):
    from flytekit.configuration import DataConfig
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.core.data_persistence import FileAccessProvider

    fa = FileAccessProvider(
        local_sandbox_dir=tempfile.mkdtemp(),
        raw_output_prefix=raw_prefix,
        data_config=DataConfig.auto(),
    )
    return FlyteContextManager.current_context().with_file_access(fa).build()


def _types():
    from flytekit.types.directory import FlyteDirectory
    from flytekit.types.file import FlyteFile
    from flytekit.types.structured import StructuredDataset

    return {
        "datetime": datetime.datetime,
        "timedelta": datetime.timedelta,
        "file": FlyteFile,
        "dir": FlyteDirectory,
        "dataframe": StructuredDataset,
        "file-uri": FlyteFile,
        "dir-uri": FlyteDirectory,
        "str": str,
        "int": int,
        "dataframe-files": StructuredDataset,
    }


def write_inputs(raw_prefix, out, spec):
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.core.type_engine import TypeEngine
    from flytekit.models.literals import LiteralMap
    from flytekit.types.directory import FlyteDirectory
    from flytekit.types.file import FlyteFile
    from flytekit.types.structured import StructuredDataset

    ctx = _ctx(raw_prefix)
    literals = {}
    with FlyteContextManager.with_context(ctx.new_builder()) as ctx:
        for name, (kind, value) in json.loads(spec).items():
            offload = kind == "offload"
            if offload:
                kind, value = value
            py_type = _types()[kind]
            if kind == "datetime":
                value = datetime.datetime.fromisoformat(value)
            elif kind == "timedelta":
                value = datetime.timedelta(seconds=value)
            elif kind == "file":
                path = os.path.join(tempfile.mkdtemp(), f"{name}.txt")
                with open(path, "w") as f:
                    f.write(value)
                value = FlyteFile(path)
            elif kind == "dir":
                path = tempfile.mkdtemp()
                for file_name, text in value.items():
                    with open(os.path.join(path, file_name), "w") as f:
                        f.write(text)
                value = FlyteDirectory(path)
            elif kind == "dataframe":
                value = StructuredDataset(dataframe=pd.DataFrame(value))
            elif kind == "dataframe-files":
                uri, files = value
                path = tempfile.mkdtemp()
                for file_name, text in files.items():
                    with open(os.path.join(path, file_name), "w") as f:
                        f.write(text)
                ctx.file_access.put_data(path, uri, is_multipart=True)
                value = StructuredDataset(uri=uri, file_format="parquet")
            elif kind == "file-uri":
                value = FlyteFile(value)
            elif kind == "dir-uri":
                value = FlyteDirectory(value)
            lt = TypeEngine.to_literal_type(py_type)
            literals[name] = TypeEngine.to_literal(ctx, value, py_type, lt)
            if offload:
                literals[name] = _offloaded(ctx, raw_prefix, name, literals[name], lt)
    with open(out, "wb") as f:
        f.write(LiteralMap(literals=literals).to_flyte_idl().SerializeToString())
    print(json.dumps({name: lit.to_flyte_idl().__str__() for name, lit in literals.items()}))


def _offloaded(ctx, raw_prefix, name, literal, lt):
    """`literal` stored at RAW_PREFIX/NAME_offloaded_metadata.pb, as flytepropeller offloads."""
    from flytekit.models.literals import Literal, LiteralOffloadedMetadata

    pb = literal.to_flyte_idl()
    local = os.path.join(tempfile.mkdtemp(), "literal.pb")
    with open(local, "wb") as f:
        f.write(pb.SerializeToString())
    uri = f"{raw_prefix}/{name}_offloaded_metadata.pb"
    ctx.file_access.put_data(local, uri)
    return Literal(
        offloaded_metadata=LiteralOffloadedMetadata(uri=uri, size_bytes=pb.ByteSize(), inferred_type=lt)
    )


def read_outputs(prefix, kind):
    from flyteidl.core import literals_pb2
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.core.type_engine import TypeEngine
    from flytekit.models.literals import LiteralMap

    ctx = _ctx(tempfile.mkdtemp())
    local = os.path.join(tempfile.mkdtemp(), "outputs.pb")
    ctx.file_access.get_data(f"{prefix}/outputs.pb", local)
    pb = literals_pb2.LiteralMap()
    with open(local, "rb") as f:
        pb.ParseFromString(f.read())
    lm = LiteralMap.from_flyte_idl(pb)
    lit = lm.literals["o0"]
    with FlyteContextManager.with_context(ctx.new_builder()) as ctx:
        value = TypeEngine.to_python_value(ctx, lit, _types()[kind])
        if kind == "datetime":
            out = value.isoformat()
        elif kind == "timedelta":
            out = value.total_seconds()
        elif kind == "file":
            with open(value.download()) as f:
                out = {"text": f.read(), "uri": lit.scalar.blob.uri}
        elif kind == "dir":
            path = value.download()
            files = {}
            for name in sorted(os.listdir(path)):
                with open(os.path.join(path, name)) as f:
                    files[name] = f.read()
            out = {"files": files, "uri": lit.scalar.blob.uri}
        elif kind == "dataframe":
            df = value.open(pd.DataFrame).all()
            out = {
                "rows": len(df),
                "columns": list(df.columns),
                "sums": {c: float(df[c].sum()) for c in df.columns if df[c].dtype.kind in "if"},
                "values": {c: df[c].tolist() for c in df.columns if df[c].dtype.kind == "i"},
                "uri": lit.scalar.structured_dataset.uri,
                "format": lit.scalar.structured_dataset.metadata.structured_dataset_type.format,
            }
    print(json.dumps({"o0": out, "offloaded": pb.literals["o0"].HasField("offloaded_metadata")}))


def main(argv):
    command, args = argv[1], argv[2:]
    {"write-inputs": write_inputs, "read-outputs": read_outputs}[command](*args)


if __name__ == "__main__":
    main(sys.argv)
