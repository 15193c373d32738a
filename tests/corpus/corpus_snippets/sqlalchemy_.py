import os

import sqlalchemy
from sqlalchemy import Column, ForeignKey, Integer, String, create_engine, func, select
from sqlalchemy.orm import Session, declarative_base, relationship

Base = declarative_base()


class Author(Base):
    __tablename__ = "author"
    id = Column(Integer, primary_key=True)
    name = Column(String(50))
    books = relationship("Book", back_populates="author")


class Book(Base):
    __tablename__ = "book"
    id = Column(Integer, primary_key=True)
    title = Column(String(100))
    author_id = Column(Integer, ForeignKey("author.id"))
    author = relationship("Author", back_populates="books")


def run(tmp):
    engine = create_engine("sqlite:///" + os.path.join(tmp, "books.db"))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Author(name="Ursula", books=[Book(title="A Wizard"), Book(title="The Dispossessed")]))
        session.commit()
        count = session.execute(select(func.count(Book.id)).join(Author).where(Author.name == "Ursula")).scalar_one()
    engine.dispose()
    assert count == 2
    return f"sqlalchemy {sqlalchemy.__version__}: {count} books"
