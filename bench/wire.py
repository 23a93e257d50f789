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
_SCALARS |= {"int32": _F.TYPE_INT32, "uint32": _F.TYPE_UINT32}
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
            ("bool_value", 3, "bool", False),
            ("double_value", 4, "double", False),
            ("string_value", 6, "string", False),
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
            ("page_info_changed", 12, "PageInfo", False),
            ("file_urls_response", 19, "FileURLsResponse", False),
            ("navigation", 23, "Navigation", False),
        ]
    },
    "PageInfo": {"fields": [("query_string", 1, "string", False)]},
    "NewSession": {"fields": [("initialize", 1, "Initialize", False)]},
    "Initialize": {"fields": [("session_id", 6, "string", False)]},
    "Delta": {"oneof": [("new_element", 3, "Element", False)]},
    "Element": {
        "oneof": [
            ("exception", 8, "Exception", False),
            ("alert", 30, "Alert", False),
            ("checkbox", 20, "Checkbox", False),
            ("slider", 21, "Slider", False),
            ("radio", 23, "Choice", False),
            ("selectbox", 25, "Choice", False),
            ("number_input", 32, "NumberInput", False),
            ("button_group", 55, "ButtonGroup", False),
        ]
    },
    # the widgets the app's sidebar and pages draw: their id, and what the frontend takes as their value (the
    # server's value when set_value is true, else the default); Radio and Selectbox share these field numbers
    "Checkbox": {
        "fields": [
            ("id", 1, "string", False),
            ("default", 3, "bool", False),
            ("value", 6, "bool", False),
            ("set_value", 7, "bool", False),
        ]
    },
    "Slider": {
        "fields": [
            ("id", 1, "string", False),
            ("default", 6, "double", True),
            ("value", 10, "double", True),
            ("set_value", 11, "bool", False),
            ("options", 13, "string", True),
            ("raw_value", 18, "string", True),
        ]
    },
    "Choice": {
        "fields": [
            ("id", 1, "string", False),
            ("default", 3, "int32", False),
            ("options", 4, "string", True),
            ("set_value", 8, "bool", False),
            ("raw_value", 13, "string", False),
        ]
    },
    "NumberInput": {
        "fields": [
            ("id", 1, "string", False),
            ("default", 14, "double", False),
            ("value", 19, "double", False),
            ("set_value", 20, "bool", False),
        ]
    },
    "ButtonGroup": {
        "fields": [
            ("id", 1, "string", False),
            ("options", 2, "ButtonOption", True),
            ("default", 3, "uint32", True),
            ("set_value", 8, "bool", False),
            ("raw_values", 14, "string", True),
        ]
    },
    "ButtonOption": {"fields": [("content", 1, "string", False)]},
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


def widget_value(element) -> tuple[str, bool, str, object] | None:
    """A widget the server draws, as Streamlit's frontend takes it: (its element id, whether the server sets its
    value, the WidgetState field the frontend sends its value in, the value), or None for another element. The
    frontend takes the server's value when `set_value` is true, else keeps its own (the default, for a widget it
    has not seen before)."""
    kind = element.WhichOneof("type")
    if kind not in ("radio", "selectbox", "slider", "number_input", "checkbox", "button_group"):
        return None
    w = getattr(element, kind)
    if kind in ("radio", "selectbox"):
        field, value = "string_value", (w.raw_value if w.set_value else w.options[w.default])
    elif kind == "slider" and w.options:  # st.select_slider: the options' labels
        field, value = "string_array_value", list(w.raw_value) if w.set_value else [w.options[int(i)] for i in w.default]
    elif kind == "slider":
        field, value = "double_array_value", list(w.value if w.set_value else w.default)
    elif kind == "number_input":
        field, value = "double_value", w.value if w.set_value else w.default
    elif kind == "checkbox":
        field, value = "bool_value", w.value if w.set_value else w.default
    else:  # st.segmented_control, st.pills
        field, value = "string_array_value", list(w.raw_values) if w.set_value else [w.options[i].content for i in w.default]
    return w.id, w.set_value, field, value
