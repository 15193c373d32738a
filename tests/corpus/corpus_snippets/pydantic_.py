import json
import os
from datetime import date
from typing import List

import pydantic
from pydantic import BaseModel, ValidationError, field_validator


class Order(BaseModel):
    id: int
    day: date
    items: List[str]  # noqa: FA100  (pydantic evaluates it at run time, on 3.7 too)

    @field_validator("items")
    @classmethod
    def not_empty(cls, v):
        if not v:
            raise ValueError("no items")
        return v


def run(tmp):
    order = Order.model_validate({"id": "7", "day": "2024-02-29", "items": ["a", "b"]})
    path = os.path.join(tmp, "order.json")
    with open(path, "w") as f:
        f.write(order.model_dump_json())
    with open(path) as f:
        again = Order.model_validate_json(f.read())
    try:
        Order(id=1, day="2024-02-30", items=[])
        raise AssertionError("invalid order accepted")
    except ValidationError as exc:
        errors = len(exc.errors())
    schema = json.dumps(Order.model_json_schema())
    assert again == order and errors == 2 and "items" in schema
    return f"pydantic {pydantic.VERSION}: round trip, {errors} validation errors"
