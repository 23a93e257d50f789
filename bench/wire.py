"""The part of Streamlit's websocket protocol the simulated students of `class_load.py` speak, declared here with
protobuf's public API (not imported from Streamlit's package, whose modules other than its documented ones this
project does not use).

The messages are subsets of Streamlit's own (`proto/streamlit/proto/*.proto` in its repository, Streamlit 1.67):
the same message and field names, the same field numbers and types, only the fields a student sends or reads.
Protobuf skips fields a message does not declare, so the server's full messages parse into these. If Streamlit
renumbers a field, the simulated runs stop finishing, and `class_load.py` reports every student as an error.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {"string": _F.TYPE_STRING, "double": _F.TYPE_DOUBLE, "uint64": _F.TYPE_UINT64, "bool": _F.TYPE_BOOL}
_SCALARS["enum"] = _F.TYPE_INT32  # an enum is a varint on the wire

# message -> fields: (name, number, type: a scalar above or a message here, repeated); fields of a oneof are
# listed under "oneof" (ForwardMsg's and BackMsg's kinds: WhichOneof tells which one a message is)
SCHEMA: dict[str, dict[str, list[tuple[str, int, str, bool]]]] = {
    "BackMsg": {"oneof": [("rerun_script", 11, "ClientState", False), ("file_urls_request", 16, "FileURLsRequest", False)]},
    "ClientState": {
        "fields": [
            ("query_string", 1, "string", False),
            ("widget_states", 2, "WidgetStates", False),
            ("page_script_hash", 3, "string", False),
            ("context_info", 8, "ContextInfo", False),
        ]
    },
    "ContextInfo": {"fields": [("timezone", 1, "string", False), ("locale", 3, "string", False), ("url", 4, "string", False)]},
    "WidgetStates": {"fields": [("widgets", 1, "WidgetState", True)]},
    "WidgetState": {
        "fields": [("id", 1, "string", False)],
        "oneof": [
            ("double_array_value", 7, "DoubleArray", False),
            ("string_array_value", 9, "StringArray", False),
            ("file_uploader_state_value", 13, "FileUploaderState", False),
        ],
    },
    "StringArray": {"fields": [("data", 1, "string", True)]},
    "DoubleArray": {"fields": [("data", 1, "double", True)]},
    "FileUploaderState": {"fields": [("uploaded_file_info", 2, "UploadedFileInfo", True)]},
    "UploadedFileInfo": {
        "fields": [
            ("name", 2, "string", False),
            ("size", 3, "uint64", False),
            ("file_id", 4, "string", False),
            ("file_urls", 5, "FileURLs", False),
        ]
    },
    "FileURLs": {
        "fields": [("file_id", 1, "string", False), ("upload_url", 2, "string", False), ("delete_url", 3, "string", False)]
    },
    "FileURLsRequest": {
        "fields": [("request_id", 1, "string", False), ("file_names", 2, "string", True), ("session_id", 3, "string", False)]
    },
    "FileURLsResponse": {
        "fields": [("response_id", 1, "string", False), ("file_urls", 2, "FileURLs", True), ("error_msg", 3, "string", False)]
    },
    "ForwardMsg": {
        "oneof": [
            ("new_session", 4, "NewSession", False),
            ("delta", 5, "Delta", False),
            ("script_finished", 6, "enum", False),
            ("file_urls_response", 19, "FileURLsResponse", False),
            ("navigation", 23, "Navigation", False),
        ]
    },
    "NewSession": {"fields": [("initialize", 1, "Initialize", False)]},
    "Initialize": {"fields": [("session_id", 6, "string", False)]},
    "Delta": {"oneof": [("new_element", 3, "Element", False)]},
    "Element": {"oneof": [("exception", 8, "Exception", False), ("alert", 30, "Alert", False)]},
    "Exception": {"fields": [("message", 2, "string", False)]},
    "Alert": {"fields": [("body", 1, "string", False), ("format", 2, "enum", False)]},
    "Navigation": {"fields": [("app_pages", 2, "AppPage", True)]},
    "AppPage": {
        "fields": [
            ("page_script_hash", 1, "string", False),
            ("is_default", 4, "bool", False),
            ("url_pathname", 6, "string", False),
        ]
    },
}
SCRIPT_FINISHED = {0: "FINISHED_SUCCESSFULLY", 1: "FINISHED_WITH_COMPILE_ERROR", 2: "FINISHED_EARLY_FOR_RERUN"}
SCRIPT_FINISHED[3] = "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"
ALERT_ERROR = 1
_PACKAGE = "streamlit_wire_subset"


def _classes() -> dict[str, type]:
    file = descriptor_pb2.FileDescriptorProto(name=f"{_PACKAGE}.proto", package=_PACKAGE, syntax="proto3")
    for name, parts in SCHEMA.items():
        message = file.message_type.add(name=name)
        if "oneof" in parts:
            message.oneof_decl.add(name="type")
        for group in ("fields", "oneof"):
            for field_name, number, kind, repeated in parts.get(group, []):
                field = message.field.add(name=field_name, number=number)
                field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
                if kind in _SCALARS:
                    field.type = _SCALARS[kind]
                else:
                    field.type, field.type_name = _F.TYPE_MESSAGE, f".{_PACKAGE}.{kind}"
                if group == "oneof":
                    field.oneof_index = 0
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}")) for name in SCHEMA}


_MESSAGES = _classes()
BackMsg = _MESSAGES["BackMsg"]
ForwardMsg = _MESSAGES["ForwardMsg"]
FileUploaderState = _MESSAGES["FileUploaderState"]
